#include "train/tiny_runs.h"

#include <cstdint>

namespace refusal::train::tiny {
namespace {

// Deterministic ids (a 64-bit LCG): `bos` body `eos`, body ids from `first_id` on.
std::vector<Example> lcg_data(std::size_t n, std::uint64_t seed, std::int32_t bos, std::int32_t eos,
                              std::int32_t first_id) {
  std::vector<Example> out;
  std::uint64_t x = seed;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::int32_t> ids = {bos};
    const std::size_t len = 3 + i % 9;
    for (std::size_t k = 0; k < len; ++k) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      ids.push_back(
          static_cast<std::int32_t>(first_id + static_cast<std::int32_t>((x >> 33) % 900)));
    }
    ids.push_back(eos);
    out.push_back({ids, static_cast<int>(i % 2)});
  }
  return out;
}

TrainOptions committed_run_options() {
  TrainOptions o;
  o.batch_size = 8;
  o.epochs = 2;
  o.lr = 2e-3;
  o.warmup_steps = 2;
  o.weight_decay = 0.01;
  o.threads = 2;
  o.progress = false;
  return o;
}

}  // namespace

std::vector<Example> toy_data(std::size_t n) { return lcg_data(n, 12345, 0, 2, 3); }

std::vector<Example> bert_toy_data(std::size_t n) { return lcg_data(n, 777, 2, 3, 5); }

Trainer make_trainer(const TrainOptions& options) {
  auto config = load_train_config(kRobertaModel / "config.json");
  auto params = Params::layout(config.model);
  load_params(params, {kRobertaModel / "model.safetensors"});
  return Trainer(config, std::move(params), options);
}

Trainer bert_trainer_from_base(const TrainOptions& options) {
  auto config = load_train_config(kBertBase / "config.json");
  auto params = Params::layout(config.model);
  load_params(params, {kBertBase / "model.safetensors"}, &config, 42);
  return Trainer(config, std::move(params), options);
}

TrainOptions tiny_options() { return committed_run_options(); }

TrainOptions bert_options() { return committed_run_options(); }

void train_tiny(Trainer& trainer) { trainer.fit(toy_data(48), {}); }

void train_tiny_bert(Trainer& trainer) { trainer.fit(bert_toy_data(48), {}); }

void write_tiny_trained(const std::filesystem::path& dir) {
  Trainer t = make_trainer(tiny_options());
  train_tiny(t);
  save_hf_folder(dir / "tiny-trained", t.model().params(), kRobertaModel / "config.json",
                 {"NORMAL", "REJECTION"}, "f32", "", t.model().config().model);
}

void write_tiny_bert_trained(const std::filesystem::path& dir) {
  Trainer t = bert_trainer_from_base(bert_options());
  train_tiny_bert(t);
  save_hf_folder(dir / "tiny-bert-trained", t.model().params(), kBertBase / "config.json",
                 {"NORMAL", "REJECTION"}, "f32", "", t.model().config().model);
}

}  // namespace refusal::train::tiny
