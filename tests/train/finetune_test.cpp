// CI-sized fine-tuning: tests/data/models/random-roberta-tok (hidden 32, real tokenizer) on a
// deterministic slice of the reliably labelled part of the shared training data, committed under
// tests/data/train/finetune/ (see docs/training.md, FineTune). Eval loss must drop and F1 on
// held-out prompts must beat the keyword baseline (NoRefusalLight) on the same rows by 0.15.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/row_reader.h"
#include "refusal/engine.h"
#include "refusal/scanner_rules.h"
#include "refusal/train.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;

// The slice of the shared training data the test trains and evaluates on, committed so the test
// needs nothing outside the repository (tests/data/train/finetune/README.md,
// scripts/make_finetune_slice.py): 6,000 training and 1,000 eval rows of the reliably labelled
// files, split by prompt, each distinct text once.
const fs::path kSlice = "tests/data/train/finetune";
constexpr std::size_t kTrainRows = 6000, kEvalRows = 1000;

std::size_t count_rows(const fs::path& path) {
  auto reader = io::open_row_reader(path.string(), {});
  std::size_t rows = 0;
  for (io::InputRow row; reader->next(row); ++rows) {
    EXPECT_TRUE(row.ok()) << path << ": " << row.error;
  }
  return rows;
}

TEST(FineTune, BeatsKeywordBaseline) {
  const fs::path train = kSlice / "train.jsonl.gz", eval = kSlice / "eval.jsonl.gz";
  const fs::path dir =
      fs::temp_directory_path() / ("refusal-finetune-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::size_t train_rows = count_rows(train);
  ASSERT_EQ(train_rows, kTrainRows);
  // The keyword baseline (NoRefusalLight) on the eval rows.
  std::size_t eval_rows = 0, tp = 0, fp = 0, fn = 0;
  auto reader = io::open_row_reader(eval.string(), {});
  for (io::InputRow row; reader->next(row); ++eval_rows) {
    ASSERT_TRUE(row.ok()) << eval << ": " << row.error;
    const bool pred = !no_refusal_light(*row.text).is_valid;
    const bool y = row.fields.at("label").get<int>() == 1;
    tp += pred && y;
    fp += pred && !y;
    fn += !pred && y;
  }
  ASSERT_EQ(eval_rows, kEvalRows);
  const double bp = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
  const double br = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
  const double baseline_f1 = bp + br > 0 ? 2 * bp * br / (bp + br) : 0.0;

  TrainOptions o;
  o.data = {train.string()};
  o.eval = eval.string();
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
