#include "train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "base/cpu_budget.h"
#include "model/safetensors.h"
#include "refusal/error.h"

namespace refusal::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::uint16_t float_to_half(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  std::uint32_t mant = x & 0x7fffffu;
  const int exp = static_cast<int>((x >> 23) & 0xffu);
  if (exp == 0xff) return static_cast<std::uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0u));
  const int e = exp - 127 + 15;
  if (e >= 0x1f) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    std::uint32_t h = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1);
    const std::uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  std::uint32_t h = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
  return static_cast<std::uint16_t>(sign | h);
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  if (!in) throw Error("cannot read " + p.string());
  try {
    return nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(p.string() + ": " + e.what());
  }
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw Error("cannot write " + p.string());
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  }
  return buf;
}

// Cross-entropy and confusion counts of a forward's logits.
struct EvalAccumulator {
  double loss = 0;
  std::size_t rows = 0, correct = 0, tp = 0, fp = 0, fn = 0;
  void add(std::span<const float> logits, std::size_t labels, int y) {
    std::size_t best = 0;
    double mx = logits[0];
    for (std::size_t j = 1; j < labels; ++j) {
      if (logits[j] > logits[best]) best = j;
      mx = std::max(mx, static_cast<double>(logits[j]));
    }
    double sum = 0;
    for (std::size_t j = 0; j < labels; ++j) sum += std::exp(logits[j] - mx);
    loss += -(logits[static_cast<std::size_t>(y)] - mx - std::log(sum));
    ++rows;
    const int pred = static_cast<int>(best);
    if (pred == y) ++correct;
    if (pred == 1 && y == 1) ++tp;
    if (pred == 1 && y != 1) ++fp;
    if (pred != 1 && y == 1) ++fn;
  }
  EvalMetrics metrics() const {
    EvalMetrics m;
    m.rows = rows;
    if (rows == 0) return m;
    m.loss = loss / static_cast<double>(rows);
    m.accuracy = static_cast<double>(correct) / static_cast<double>(rows);
    m.precision = tp + fp ? static_cast<double>(tp) / static_cast<double>(tp + fp) : 0.0;
    m.recall = tp + fn ? static_cast<double>(tp) / static_cast<double>(tp + fn) : 0.0;
    m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0.0;
    return m;
  }
};

nlohmann::json metrics_json(const EvalMetrics& m) {
  return {{"rows", m.rows},           {"loss", m.loss},     {"accuracy", m.accuracy},
          {"precision", m.precision}, {"recall", m.recall}, {"f1", m.f1}};
}

int resolve_threads(int threads) { return threads > 0 ? threads : base::default_threads(); }

}  // namespace

void write_params(const fs::path& file, const Params& params, const std::string& dtype,
                  const std::string& prefix) {
  const bool f16 = dtype == "f16";
  if (!f16 && dtype != "f32") throw Error("unknown save dtype '" + dtype + "' (f32 or f16)");
  std::vector<std::vector<std::uint16_t>> halves;
  std::vector<model::TensorData> tensors;
  for (const auto& t : params.tensors) {
    model::TensorData d;
    d.name = prefix + t.name;
    d.shape = t.shape;
    const float* p = params.data.data() + t.offset;
    if (f16) {
      halves.emplace_back(t.size);
      for (std::size_t i = 0; i < t.size; ++i) halves.back()[i] = float_to_half(p[i]);
      d.dtype = model::DType::F16;
      d.bytes = std::as_bytes(std::span<const std::uint16_t>(halves.back()));
    } else {
      d.dtype = model::DType::F32;
      d.bytes = std::as_bytes(std::span<const float>(p, t.size));
    }
    tensors.push_back(std::move(d));
  }
  model::write_safetensors(file, tensors);
}

void save_hf_folder(const fs::path& dir, const Params& params, const fs::path& config_json,
                    const std::vector<std::string>& labels, const std::string& dtype,
                    const fs::path& tokenizer_folder, const ModelConfig& model) {
  fs::create_directories(dir);
  auto config = read_json(config_json);
  config["architectures"] = {model.class_name()};
  config["model_type"] = model.model_type;
  nlohmann::json id2label = nlohmann::json::object(), label2id = nlohmann::json::object();
  for (std::size_t i = 0; i < labels.size(); ++i) {
    id2label[std::to_string(i)] = labels[i];
    label2id[labels[i]] = i;
  }
  config["id2label"] = id2label;
  config["label2id"] = label2id;
  config["problem_type"] = "single_label_classification";
  config["dtype"] = dtype == "f16" ? "float16" : "float32";
  config.erase("torch_dtype");
  write_text(dir / "config.json", config.dump(2) + "\n");
  write_params(dir / "model.safetensors", params, dtype);
  if (!tokenizer_folder.empty()) {
    for (const char* name :
         {"tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json",
          "special_tokens_map.json", "added_tokens.json"}) {
      const fs::path src = tokenizer_folder / name;
      if (!fs::exists(src) || fs::absolute(src) == fs::absolute(dir / name)) continue;
      if (std::string(name) == "tokenizer.json") {
        // A base model's tokenizer.json may pad and truncate every input to a fixed length
        // (all-MiniLM-L6-v2: 128); the classifier's users expect neither.
        std::ifstream in(src);
        auto tok = nlohmann::ordered_json::parse(in);
        if (tok.is_object()) {
          tok["truncation"] = nullptr;
          tok["padding"] = nullptr;
        }
        write_text(dir / name, tok.dump(2) + "\n");
      } else {
        fs::copy_file(src, dir / name, fs::copy_options::overwrite_existing);
      }
    }
  }
}

std::vector<fs::path> list_checkpoints(const fs::path& output) {
  std::vector<std::pair<long long, fs::path>> found;
  if (!fs::is_directory(output)) return {};
  for (const auto& e : fs::directory_iterator(output)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || name.size() == 11 || name.size() > 30 ||
        !fs::exists(e.path() / "trainer_state.json")) {
      continue;
    }
    const std::string digits = name.substr(11);  // "checkpoint-N.tmp" is a write in progress
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    found.emplace_back(std::stoll(digits), e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<fs::path> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

Trainer::Trainer(TrainConfig config, Params params, const TrainOptions& options)
    : options_(options),
      model_(std::move(config), std::move(params)),
      optimizer_(model_.params(),
                 AdamWOptions{.weight_decay = static_cast<float>(options.weight_decay)}),
      pool_(resolve_threads(options.threads)) {
  if (options_.batch_size < 1) throw Error("--batch-size must be at least 1");
  if (options_.grad_accum < 1) throw Error("--grad-accum must be at least 1");
  if (options_.epochs < 1) throw Error("--epochs must be at least 1");
}

EvalMetrics Trainer::evaluate(const std::vector<Example>& eval) {
  EvalAccumulator acc;
  const std::size_t labels = static_cast<std::size_t>(model_.config().model.num_labels());
  const std::size_t bs = 32;
  for (std::size_t b = 0; b < eval.size(); b += bs) {
    std::vector<std::vector<std::int32_t>> ids;
    for (std::size_t i = b; i < std::min(eval.size(), b + bs); ++i) ids.push_back(eval[i].ids);
    const auto r = model_.forward(ids, {}, {}, {}, pool_);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      acc.add(std::span<const float>(r.logits).subspan(i * labels, labels), labels,
              eval[b + i].label);
    }
  }
  return acc.metrics();
}

void Trainer::log(const std::string& line) {
  if (options_.metrics.empty() && options_.output.empty()) return;
  const fs::path p = !options_.metrics.empty() ? fs::path(options_.metrics)
                                               : fs::path(options_.output) / "metrics.jsonl";
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::app);
  out << line << "\n";
}

void Trainer::save_checkpoint(const fs::path& dir) const {
  const fs::path tmp = dir.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const Params& p = model_.params();
  write_params(tmp / "model.safetensors", p, "f32");
  // One file with both moments.
  std::vector<model::TensorData> tensors;
  for (const auto& [prefix, moments] :
       {std::pair<std::string, const std::vector<float>*>{"exp_avg.", &optimizer_.exp_avg()},
        std::pair<std::string, const std::vector<float>*>{"exp_avg_sq.",
                                                          &optimizer_.exp_avg_sq()}}) {
    for (const auto& t : p.tensors) {
      tensors.push_back(
          {prefix + t.name, model::DType::F32, t.shape,
           std::as_bytes(std::span<const float>(moments->data() + t.offset, t.size))});
    }
  }
  model::write_safetensors(tmp / "optimizer.safetensors", tensors);
  nlohmann::json state = {{"global_step", step_},
                          {"epoch", epoch_},
                          {"batch_in_epoch", batch_in_epoch_},
                          {"adam_step", optimizer_.steps()},
                          {"seed", options_.seed},
                          {"batch_size", options_.batch_size},
                          {"grad_accum", options_.grad_accum},
                          {"epochs", options_.epochs},
                          {"lr", options_.lr},
                          {"warmup_steps", options_.warmup_steps},
                          {"class_weights", class_weights_},
                          {"dropout", options_.dropout},
                          {"shuffle", options_.shuffle}};
  write_text(tmp / "trainer_state.json", state.dump(2) + "\n");
  fs::remove_all(dir);
  fs::rename(tmp, dir);
}

void Trainer::load_checkpoint(const fs::path& dir) {
  const auto state = read_json(dir / "trainer_state.json");
  for (const char* key : {"seed", "batch_size", "grad_accum", "epochs"}) {
    const auto mine = key == std::string("seed")         ? nlohmann::json(options_.seed)
                      : key == std::string("batch_size") ? nlohmann::json(options_.batch_size)
                      : key == std::string("grad_accum") ? nlohmann::json(options_.grad_accum)
                                                         : nlohmann::json(options_.epochs);
    if (state.at(key) != mine) {
      throw Error(dir.string() + ": checkpoint has " + key + " " + state.at(key).dump() +
                  ", this run " + mine.dump() + "; resume with the same options");
    }
  }
  Params& p = model_.params();
  load_params(p, {dir / "model.safetensors"});
  model::SafetensorsFile opt(dir / "optimizer.safetensors");
  for (const auto& t : p.tensors) {
    for (auto [prefix, buf] : {std::pair{"exp_avg.", &optimizer_.exp_avg()},
                               std::pair{"exp_avg_sq.", &optimizer_.exp_avg_sq()}}) {
      const auto it = opt.tensors().find(prefix + t.name);
      if (it == opt.tensors().end())
        throw Error(dir.string() + ": optimizer state lacks " + t.name);
      std::vector<float> owned;
      const auto f = model::as_float(it->second, owned);
      std::memcpy(buf->data() + t.offset, f.data(), t.size * sizeof(float));
    }
  }
  step_ = state.at("global_step").get<std::int64_t>();
  epoch_ = state.at("epoch").get<std::int64_t>();
  batch_in_epoch_ = state.at("batch_in_epoch").get<std::int64_t>();
  optimizer_.set_steps(state.at("adam_step").get<std::int64_t>());
  class_weights_ = state.at("class_weights").get<std::vector<float>>();
}

TrainResult Trainer::fit(const std::vector<Example>& train, const std::vector<Example>& eval) {
  if (train.empty()) throw Error("no training rows");
  const auto& o = options_;
  const std::int64_t n = static_cast<std::int64_t>(train.size());
  const std::int64_t bs = o.batch_size, accum = o.grad_accum;
  const std::int64_t batches_per_epoch = (n + bs - 1) / bs;
  const std::int64_t steps_per_epoch = (batches_per_epoch + accum - 1) / accum;
  const std::int64_t total = steps_per_epoch * o.epochs;
  TrainResult result;
  result.total_steps = total;
  result.train_rows = train.size();
  result.eval_rows = eval.size();
  result.output = o.output;

  if (o.resume) {
    const auto cps = list_checkpoints(o.output);
    if (cps.empty()) throw Error("--resume: no checkpoint-N folder in " + o.output);
    load_checkpoint(cps.back());
    std::fprintf(stderr, "resuming from %s (step %lld)\n", cps.back().string().c_str(),
                 static_cast<long long>(step_));
  } else if (!eval.empty()) {
    result.initial_eval = evaluate(eval);
    log(nlohmann::json{{"step", 0}, {"eval", metrics_json(*result.initial_eval)}}.dump());
  }

  auto order_for = [&](std::int64_t epoch) {
    std::vector<std::size_t> order(train.size());
    std::iota(order.begin(), order.end(), 0);
    if (o.shuffle) {
      std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(epoch));
      // Fisher-Yates with our own index draw: the same order on every standard library.
      for (std::size_t i = order.size(); i > 1; --i) {
        const std::size_t j = static_cast<std::size_t>(rng() % i);
        std::swap(order[i - 1], order[j]);
      }
    }
    return order;
  };

  const bool tty = o.progress && isatty(2);
  const auto t0 = Clock::now();
  const std::int64_t first_step = step_;
  std::size_t tokens_done = 0;
  std::vector<std::size_t> order = order_for(epoch_);
  grad_.assign(model_.params().data.size(), 0.0f);
  auto checkpoint = [&] {
    if (o.output.empty()) return;
    save_checkpoint(fs::path(o.output) / ("checkpoint-" + std::to_string(step_)));
    auto cps = list_checkpoints(o.output);  // keep the two latest
    for (std::size_t i = 0; i + 2 < cps.size(); ++i) fs::remove_all(cps[i]);
  };
  auto run_eval = [&] {
    if (eval.empty()) return;
    result.final_eval = evaluate(eval);
    log(nlohmann::json{
        {"step", step_}, {"epoch", epoch_}, {"eval", metrics_json(*result.final_eval)}}
            .dump());
    if (o.progress) {
      std::fprintf(stderr,
                   "%sstep %lld eval: loss %.4f accuracy %.4f precision %.4f recall %.4f F1 %.4f\n",
                   tty ? "\r\033[K" : "", static_cast<long long>(step_), result.final_eval->loss,
                   result.final_eval->accuracy, result.final_eval->precision,
                   result.final_eval->recall, result.final_eval->f1);
    }
  };

  while (epoch_ < o.epochs) {
    const auto step_start = Clock::now();
    std::fill(grad_.begin(), grad_.end(), 0.0f);
    const std::int64_t micro = std::min(accum, batches_per_epoch - batch_in_epoch_);
    double loss_sum = 0;
    std::size_t step_tokens = 0;
    for (std::int64_t k = 0; k < micro; ++k) {
      const std::int64_t b = batch_in_epoch_ + k;
      std::vector<std::vector<std::int32_t>> ids;
      std::vector<int> labels;
      for (std::int64_t i = b * bs; i < std::min(n, (b + 1) * bs); ++i) {
        const auto& e = train[order[static_cast<std::size_t>(i)]];
        ids.push_back(e.ids);
        labels.push_back(e.label);
        step_tokens += e.ids.size();
      }
      const DropoutSpec drop{.enabled = o.dropout,
                             .seed = o.seed,
                             .key = static_cast<std::uint64_t>(epoch_ * batches_per_epoch + b)};
      const auto r = model_.forward(ids, labels, class_weights_, drop, pool_);
      loss_sum += r.loss;
      model_.backward(1.0f / static_cast<float>(micro), grad_, pool_);
    }
    const double norm = clip_grad_norm(grad_, o.max_grad_norm);
    const double lr = o.lr * linear_schedule(step_, o.warmup_steps, total);
    optimizer_.step(model_.params(), grad_, static_cast<float>(lr), pool_);
    ++step_;
    batch_in_epoch_ += micro;
    const double loss = loss_sum / static_cast<double>(micro);
    result.step_losses.push_back(loss);
    tokens_done += step_tokens;
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    const double step_s = std::chrono::duration<double>(Clock::now() - step_start).count();
    const double tps = elapsed > 0 ? static_cast<double>(tokens_done) / elapsed : 0;
    log(nlohmann::json{
        {"step", step_},
        {"epoch", epoch_},
        {"loss", loss},
        {"lr", lr},
        {"grad_norm", norm},
        {"tokens", step_tokens},
        {"tokens_per_s", step_s > 0 ? static_cast<double>(step_tokens) / step_s : 0.0}}
            .dump());
    if (tty) {
      const double eta = static_cast<double>(total - step_) * elapsed /
                         static_cast<double>(std::max<std::int64_t>(1, step_ - first_step));
      std::fprintf(stderr,
                   "\r\033[Kstep %lld/%lld  epoch %lld  loss %.4f  lr %.3g  %.0f tok/s  ETA %s",
                   static_cast<long long>(step_), static_cast<long long>(total),
                   static_cast<long long>(epoch_ + 1), loss, lr, tps, format_duration(eta).c_str());
    }
    bool epoch_end = false;
    if (batch_in_epoch_ >= batches_per_epoch) {
      ++epoch_;
      batch_in_epoch_ = 0;
      epoch_end = true;
      if (epoch_ < o.epochs) order = order_for(epoch_);
    }
    if (epoch_end || (o.eval_every > 0 && step_ % o.eval_every == 0)) run_eval();
    if (epoch_end || (o.checkpoint_every > 0 && step_ % o.checkpoint_every == 0)) checkpoint();
    if (o.stop_after_steps > 0 && step_ >= o.stop_after_steps && epoch_ < o.epochs) {
      if (!epoch_end && !(o.checkpoint_every > 0 && step_ % o.checkpoint_every == 0)) checkpoint();
      result.stopped_early = true;
      break;
    }
  }
  if (tty) std::fprintf(stderr, "\r\033[K");
  result.steps = step_;
  return result;
}

}  // namespace refusal::train
