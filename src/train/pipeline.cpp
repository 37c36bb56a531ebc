// run_training: data files → tokenized, split examples → Trainer → Hugging Face folder.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "base/cpu_budget.h"
#include "io/row_reader.h"
#include "refusal/error.h"
#include "refusal/tokenizer.h"
#include "refusal/train.h"
#include "train/trainer.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;

struct Row {
  std::string text;
  int label = 0;
  std::string group;
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A label value: an integer id, a boolean, or a label name (case-insensitive) or digit string.
std::optional<int> parse_label(const nlohmann::ordered_json& v,
                               const std::vector<std::string>& names) {
  const int n = static_cast<int>(names.size());
  if (v.is_boolean()) return v.get<bool>() ? 1 : 0;
  if (v.is_number_integer()) {
    const auto x = v.get<long long>();
    if (x >= 0 && x < n) return static_cast<int>(x);
    return std::nullopt;
  }
  if (v.is_number_float()) {
    const double x = v.get<double>();
    if (x == std::floor(x) && x >= 0 && x < n) return static_cast<int>(x);
    return std::nullopt;
  }
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    for (int i = 0; i < n; ++i) {
      if (lower(names[static_cast<std::size_t>(i)]) == lower(s)) return i;
    }
    if (!s.empty() &&
        std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      const long long x = std::stoll(s);
      if (x < n) return static_cast<int>(x);
    }
  }
  return std::nullopt;
}

std::vector<Row> read_rows(const std::vector<std::string>& files, const TrainOptions& o,
                           const std::vector<std::string>& label_names, std::size_t max_rows) {
  std::vector<Row> rows;
  std::size_t skipped = 0;
  for (const auto& file : files) {
    io::ReaderOptions ro;
    ro.field = o.text_field;
    auto reader = io::open_row_reader(file, ro);
    io::InputRow row;
    while (reader->next(row)) {
      if (max_rows && rows.size() >= max_rows) break;
      if (!row.ok() || !row.fields.contains(o.label_field)) {
        ++skipped;
        continue;
      }
      const auto label = parse_label(row.fields[o.label_field], label_names);
      if (!label) {
        ++skipped;
        continue;
      }
      Row r{*row.text, *label, {}};
      if (!o.group_by.empty() && row.fields.contains(o.group_by)) {
        const auto& g = row.fields[o.group_by];
        r.group = g.is_string() ? g.get<std::string>() : g.dump();
      } else {
        r.group = r.text;
      }
      rows.push_back(std::move(r));
    }
    if (max_rows && rows.size() >= max_rows) break;
  }
  if (skipped) {
    std::fprintf(stderr, "refusal train: skipped %zu rows without a usable '%s' or '%s'\n", skipped,
                 o.text_field.c_str(), o.label_field.c_str());
  }
  return rows;
}

std::uint64_t fnv1a(const std::string& s, std::uint64_t seed) {
  std::uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h;
}

std::vector<train::Example> tokenize(const std::vector<Row>& rows, const Tokenizer& tok,
                                     int max_length, base::ThreadPool& pool) {
  std::vector<train::Example> out(rows.size());
  EncodeOptions eo;
  eo.max_length = static_cast<std::size_t>(max_length);
  eo.with_tokens = false;
  pool.parallel_for(rows.size(), [&](std::size_t i) {
    out[i].ids = tok.encode(rows[i].text, eo).ids;
    out[i].label = rows[i].label;
  });
  return out;
}

}  // namespace

TrainResult run_training(const TrainOptions& options) {
  TrainOptions o = options;
  if (o.data.empty()) throw Error("--data: give at least one file");
  if (o.output.empty()) throw Error("--output: give the folder to write the model to");
  if (o.init.empty() == o.config.empty()) throw Error("give one of --init and --config");
  if (!(o.split > 0 && o.split <= 1)) throw Error("--split must be in (0, 1]");
  if (o.max_length < 3) throw Error("--max-length must be at least 3");

  // The model.
  train::TrainConfig config;
  train::Params params;
  fs::path config_json, tokenizer_folder;
  if (!o.init.empty()) {
    const ModelFiles files = resolve_model(o.init);
    config_json = files.config;
    config = train::load_train_config(config_json);
    if (!o.labels.empty()) config.model.labels = o.labels;
    params = train::Params::layout(config.model);
    // A bare base model (RobertaModel, BertModel) gets a new head, like transformers'
    // from_pretrained into *ForSequenceClassification.
    const auto fresh = train::load_params(params, files.weights, &config, o.seed);
    if (!fresh.empty() && o.progress) {
      std::string names;
      for (const auto& n : fresh) names += (names.empty() ? "" : ", ") + n;
      std::fprintf(stderr, "refusal train: %s has no classification head; initialised %s\n",
                   o.init.c_str(), names.c_str());
    }
    tokenizer_folder = o.tokenizer.empty() ? files.folder : fs::path(o.tokenizer);
  } else {
    config_json = o.config;
    config = train::load_train_config(config_json);
    if (!o.labels.empty()) config.model.labels = o.labels;
    params = train::Params::layout(config.model);
    train::init_params(params, config, o.seed);
    if (o.tokenizer.empty()) throw Error("--config needs --tokenizer DIR (a tokenizer folder)");
    tokenizer_folder = o.tokenizer;
  }
  const int max_length = std::min(o.max_length, config.model.max_tokens());
  const Tokenizer tok = Tokenizer::from_model_folder(tokenizer_folder);

  // The data.
  const std::vector<std::string> names = config.model.labels;
  auto rows = read_rows(o.data, o, names, o.max_rows);
  std::vector<Row> train_rows, eval_rows;
  if (!o.eval.empty()) {
    train_rows = std::move(rows);
    eval_rows = read_rows({o.eval}, o, names, 0);
  } else {
    for (auto& r : rows) {
      const double u = static_cast<double>(fnv1a(r.group, o.seed) >> 11) * 0x1.0p-53;
      (u < o.split ? train_rows : eval_rows).push_back(std::move(r));
    }
  }
  if (train_rows.empty()) throw Error("no training rows (check --data, --label-field, --split)");
  const int threads = o.threads > 0 ? o.threads : base::default_threads();
  base::ThreadPool tok_pool(threads);
  const auto train_set = tokenize(train_rows, tok, max_length, tok_pool);
  const auto eval_set = tokenize(eval_rows, tok, max_length, tok_pool);

  std::vector<float> class_weights;
  if (o.class_weights == "auto") {
    std::vector<double> count(names.size(), 0.0);
    for (const auto& e : train_set) count[static_cast<std::size_t>(e.label)] += 1;
    for (double c : count) {
      class_weights.push_back(c > 0 ? static_cast<float>(static_cast<double>(train_set.size()) /
                                                         (static_cast<double>(names.size()) * c))
                                    : 1.0f);
    }
  } else if (o.class_weights != "none" && !o.class_weights.empty()) {
    std::string s = o.class_weights;
    std::size_t pos = 0;
    while (pos <= s.size()) {
      const auto comma = s.find(',', pos);
      class_weights.push_back(std::stof(s.substr(pos, comma - pos)));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    if (class_weights.size() != names.size()) {
      throw Error("--class-weights: give one weight per label (" + std::to_string(names.size()) +
                  ")");
    }
  }

  fs::create_directories(o.output);
  const fs::path metrics =
      o.metrics.empty() ? fs::path(o.output) / "metrics.jsonl" : fs::path(o.metrics);
  if (!o.resume) fs::remove(metrics);
  if (o.progress) {
    std::fprintf(stderr, "refusal train: %zu training rows, %zu eval rows, %d threads\n",
                 train_set.size(), eval_set.size(), threads);
  }
  o.threads = threads;
  train::Trainer trainer(std::move(config), std::move(params), o);
  trainer.set_class_weights(class_weights);
  TrainResult result = trainer.fit(train_set, eval_set);
  if (!result.stopped_early) {
    train::save_hf_folder(o.output, trainer.model().params(), config_json, names, o.save_dtype,
                          tokenizer_folder, trainer.model().config().model);
  }
  return result;
}

}  // namespace refusal
