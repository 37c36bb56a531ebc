// CI-sized fine-tuning: tests/data/models/random-roberta-tok (hidden 32, real tokenizer) on a
// deterministic slice of the reliably labelled part of ../shared/data/train/ (see
// docs/training.md, FineTune). Eval loss must drop and F1 on held-out prompts must beat the
// keyword baseline (NoRefusalLight) on the same rows by 0.15.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "io/row_reader.h"
#include "refusal/engine.h"
#include "refusal/scanner_rules.h"
#include "refusal/train.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;

std::uint64_t mix(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  return h ^ (h >> 33);
}

constexpr std::size_t kTrainRows = 6000, kEvalRows = 1000;

// Files whose label says whether the answer itself refuses. Left out: the proxy sets (gptfuzz,
// jbb-artifacts, jailjudge-mini), labelled by jailbreak success, not by refusal: 11-37% of their
// label-1 rows hold no refusal, and their label-0 rows include two-persona answers that refuse
// and then comply.
constexpr const char* kFiles[] = {"phtest", "refusal-direction", "coconot-pref-chosen",
                                  "llm-self-defense"};

bool partial_refusal(const nlohmann::ordered_json& fields) {
  if (!fields.contains("meta") || !fields["meta"].is_object()) return false;
  const auto& meta = fields["meta"];
  return meta.contains("partial_refusal") && meta["partial_refusal"].is_boolean() &&
         meta["partial_refusal"].get<bool>();
}

TEST(FineTune, BeatsKeywordBaseline) {
  const fs::path data_dir = "../shared/data/train";
  if (!fs::is_directory(data_dir)) GTEST_SKIP() << "no " << data_dir;
  const fs::path dir =
      fs::temp_directory_path() / ("refusal-finetune-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream train_out(dir / "train.jsonl"), eval_out(dir / "eval.jsonl");
  std::size_t train_rows = 0, eval_rows = 0;
  std::size_t tp = 0, fp = 0, fn = 0;
  // Rows with label 0/1, partial refusals left out (XSTest's third class: the answer refuses in
  // part and complies in part; mapped to 1 by convention, the judge's least clear-cut call), in
  // the order of a hash of their text: a uniform sample. Each distinct text is used once, so no
  // text is on both sides. A fifth of the prompts are held out (split by prompt, not by row).
  std::vector<std::pair<std::uint64_t, nlohmann::ordered_json>> rows;
  for (const char* name : kFiles) {
    const fs::path f = data_dir / (std::string(name) + ".jsonl.gz");
    ASSERT_TRUE(fs::is_regular_file(f)) << f;
    auto reader = io::open_row_reader(f.string(), {});
    io::InputRow row;
    while (reader->next(row)) {
      if (!row.ok() || !row.fields.contains("label") || !row.fields["label"].is_number_integer())
        continue;
      const int label = row.fields["label"].get<int>();
      if ((label != 0 && label != 1) || partial_refusal(row.fields)) continue;
      nlohmann::ordered_json j = {{"text", *row.text}, {"label", label}};
      j["prompt"] = row.fields.contains("prompt") && row.fields["prompt"].is_string()
                        ? row.fields["prompt"].get<std::string>()
                        : *row.text;
      rows.emplace_back(mix(*row.text), std::move(j));
    }
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::unordered_set<std::string> seen;
  for (const auto& [h, j] : rows) {
    if (!seen.insert(j["text"].get<std::string>()).second) continue;
    const bool to_eval = mix(j["prompt"].get<std::string>()) % 5 == 0;
    if (to_eval && eval_rows < kEvalRows) {
      eval_out << j.dump() << "\n";
      ++eval_rows;
      const bool pred = !no_refusal_light(j["text"].get<std::string>()).is_valid;
      const bool y = j["label"].get<int>() == 1;
      tp += pred && y;
      fp += pred && !y;
      fn += !pred && y;
    } else if (!to_eval && train_rows < kTrainRows) {
      train_out << j.dump() << "\n";
      ++train_rows;
    }
  }
  train_out.close();
  eval_out.close();
  ASSERT_EQ(train_rows, kTrainRows);
  ASSERT_EQ(eval_rows, kEvalRows);
  const double bp = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
  const double br = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
  const double baseline_f1 = bp + br > 0 ? 2 * bp * br / (bp + br) : 0.0;

  TrainOptions o;
  o.data = {(dir / "train.jsonl").string()};
  o.eval = (dir / "eval.jsonl").string();
  o.init = "tests/data/models/random-roberta-tok";
  o.output = (dir / "model").string();
  o.epochs = 3;
  o.batch_size = 16;
  o.lr = 2e-3;
  o.warmup_steps = 50;
  o.weight_decay = 0.01;
  o.max_length = 128;
  o.seed = 1;
  o.class_weights = "auto";
  o.progress = false;
  o.eval_every = 0;
  const TrainResult r = run_training(o);
  ASSERT_TRUE(r.initial_eval && r.final_eval);
  std::printf(
      "train rows %zu, eval rows %zu; keyword baseline F1 %.4f (precision %.4f, recall %.4f)\n",
      train_rows, eval_rows, baseline_f1, bp, br);
  std::printf(
      "eval loss %.4f -> %.4f; F1 %.4f -> %.4f; accuracy %.4f, precision %.4f, recall %.4f\n",
      r.initial_eval->loss, r.final_eval->loss, r.initial_eval->f1, r.final_eval->f1,
      r.final_eval->accuracy, r.final_eval->precision, r.final_eval->recall);
  EXPECT_LT(r.final_eval->loss, 0.5 * r.initial_eval->loss);
  EXPECT_GE(r.final_eval->f1, baseline_f1 + 0.15);
  // The folder loads in the engine.
  const Engine engine = Engine::load(o.output, {.threads = 1});
  EXPECT_EQ(engine.config().num_labels(), 2);
  if (!HasFailure())
    fs::remove_all(dir);
  else
    std::printf("kept %s\n", dir.string().c_str());
}

}  // namespace
}  // namespace refusal
