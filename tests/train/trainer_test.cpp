// The optimizer loop against transformers (AdamW, linear schedule, clipping: the steps
// scripts/vectors/make_train_vectors.py recorded), exact resume, and saving a model folder.
#include "train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "refusal/engine.h"
#include "train/optimizer.h"
#include "train/tiny_runs.h"

namespace refusal::train {
namespace {

namespace fs = std::filesystem;
using tiny::make_trainer;
using tiny::toy_data;
const fs::path kModel = tiny::kRobertaModel;

fs::path temp_dir(const std::string& name) {
  const fs::path p =
      fs::temp_directory_path() / ("refusal-train-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

TEST(Schedule, LinearWarmupDecay) {
  EXPECT_DOUBLE_EQ(linear_schedule(0, 5, 20), 0.0);
  EXPECT_DOUBLE_EQ(linear_schedule(2, 5, 20), 0.4);
  EXPECT_DOUBLE_EQ(linear_schedule(5, 5, 20), 1.0);
  EXPECT_DOUBLE_EQ(linear_schedule(15, 5, 20), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(linear_schedule(25, 5, 20), 0.0);
  EXPECT_DOUBLE_EQ(linear_schedule(0, 0, 10), 1.0);
}

TEST(Params, DecayLikeTransformersTrainer) {
  std::ifstream in("tests/data/train/trainer_vectors.json");
  const auto j = nlohmann::json::parse(in);
  const auto decay = j["decay_parameters"].get<std::vector<std::string>>();
  const auto config = load_train_config(kModel / "config.json");
  const auto params = Params::layout(config.model);
  std::vector<std::string> ours;
  for (const auto& t : params.tensors) {
    if (t.decay) ours.push_back(t.name);
  }
  std::sort(ours.begin(), ours.end());
  EXPECT_EQ(ours, decay);
}

// 20 optimizer steps track the reference loop (same init, data order, dropout off).
TEST(Trainer, First20StepsTrackTransformers) {
  std::ifstream in("tests/data/train/trainer_vectors.json");
  const auto j = nlohmann::json::parse(in);
  const auto seqs = j["sequences"].get<std::vector<std::vector<std::int32_t>>>();
  const auto labels = j["labels"].get<std::vector<int>>();
  std::vector<Example> train;
  for (std::size_t i = 0; i < seqs.size(); ++i) train.push_back({seqs[i], labels[i]});
  TrainOptions o;
  o.batch_size = j["batch_size"];
  o.epochs = j["epochs"];
  o.lr = j["lr"];
  o.warmup_steps = j["warmup_steps"];
  o.weight_decay = j["weight_decay"];
  o.max_grad_norm = j["max_grad_norm"];
  o.dropout = false;
  o.shuffle = false;
  o.threads = 2;
  o.progress = false;
  Trainer t = make_trainer(o);
  const auto r = t.fit(train, {});
  const auto& steps = j["steps"];
  ASSERT_EQ(r.step_losses.size(), steps.size());
  ASSERT_EQ(steps.size(), 20u);
  double worst = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const double ref = steps[i]["loss"];
    worst = std::max(worst, std::abs(r.step_losses[i] - ref));
    EXPECT_NEAR(r.step_losses[i], ref, 1e-3) << "step " << i + 1;
  }
  std::printf("max |loss - reference| over 20 steps: %.3g\n", worst);
  const auto bias = j["final_classifier_out_proj_bias"].get<std::vector<double>>();
  const float* ours = t.model().params().ptr("classifier.out_proj.bias");
  for (std::size_t i = 0; i < bias.size(); ++i) EXPECT_NEAR(ours[i], bias[i], 1e-4);
}

// A run stopped after K steps and resumed from its checkpoint ends bit-identical to an
// unbroken run (dropout on, shuffling on, accumulation on).
TEST(Trainer, ResumeIsExact) {
  const auto data = toy_data(50);
  TrainOptions o;
  o.batch_size = 4;
  o.grad_accum = 2;
  o.epochs = 2;
  o.lr = 1e-3;
  o.warmup_steps = 3;
  o.weight_decay = 0.01;
  o.threads = 2;
  o.progress = false;
  o.checkpoint_every = 2;
  o.output = temp_dir("unbroken").string();
  Trainer a = make_trainer(o);
  const auto ra = a.fit(data, {});

  TrainOptions o2 = o;
  o2.output = temp_dir("broken").string();
  o2.stop_after_steps = 5;
  {
    Trainer b = make_trainer(o2);
    const auto rb = b.fit(data, {});
    EXPECT_TRUE(rb.stopped_early);
    EXPECT_EQ(rb.steps, 5);
  }
  o2.stop_after_steps = 0;
  o2.resume = true;
  Trainer c = make_trainer(o2);
  const auto rc = c.fit(data, {});
  EXPECT_EQ(rc.steps, ra.steps);
  EXPECT_EQ(c.model().params().data, a.model().params().data);
  fs::remove_all(o.output);
  fs::remove_all(o2.output);
}

// The saved folder loads in our engine with the trainer's logits.
TEST(Trainer, SavedFolderLoadsInEngine) {
  TrainOptions o;
  o.batch_size = 8;
  o.epochs = 1;
  o.lr = 1e-3;
  o.warmup_steps = 0;
  o.threads = 2;
  o.progress = false;
  Trainer t = make_trainer(o);
  const auto data = toy_data(24);
  t.fit(data, {});
  const fs::path dir = temp_dir("save");
  for (const std::string dtype : {"f32", "f16"}) {
    save_hf_folder(dir / dtype, t.model().params(), kModel / "config.json", {"NORMAL", "REJECTION"},
                   dtype, "tests/data/models/random-roberta-tok", t.model().config().model);
    ASSERT_TRUE(fs::exists(dir / dtype / "tokenizer.json"));
    const Engine engine = Engine::load((dir / dtype).string(), {.threads = 1});
    std::vector<std::vector<std::int32_t>> batch;
    for (std::size_t i = 0; i < 6; ++i) batch.push_back(data[i].ids);
    const auto ours = t.model().forward(batch, {}, {}, {}, t.pool());
    const auto theirs = engine.classify(batch);
    const double tol = dtype == "f32" ? 1e-4 : 2e-2;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      for (std::size_t k = 0; k < 2; ++k)
        EXPECT_NEAR(theirs[i].logits[k], ours.logits[i * 2 + k], tol);
    }
  }
  fs::remove_all(dir);
}

// transformers loads the folder the trainer saved (tests/data/train/tiny-trained, written by
// write_tiny_trained: tests/data/train/README.md) with the logits our engine and our training
// forward give (<= 1e-4), and retraining gives the same model.
TEST(Trainer, SavedFolderMatchesTransformers) {
  std::ifstream in("tests/data/train/tiny-trained.logits.json");
  const auto j = nlohmann::json::parse(in);
  const auto seqs = j["sequences"].get<std::vector<std::vector<std::int32_t>>>();
  const auto ref = j["logits"].get<std::vector<std::vector<double>>>();
  const Engine engine = Engine::load("tests/data/train/tiny-trained", {.threads = 1});
  const auto ours = engine.classify(seqs);
  Trainer t = make_trainer(tiny::tiny_options());
  tiny::train_tiny(t);
  const auto retrained = t.model().forward(seqs, {}, {}, {}, t.pool());
  double worst_engine = 0, worst_retrained = 0;
  for (std::size_t i = 0; i < seqs.size(); ++i) {
    for (std::size_t k = 0; k < 2; ++k) {
      worst_engine = std::max(worst_engine, std::abs(ours[i].logits[k] - ref[i][k]));
      worst_retrained =
          std::max(worst_retrained, std::abs(retrained.logits[i * 2 + k] - ref[i][k]));
    }
  }
  std::printf("max |logit - transformers|: engine %.3g, retrained %.3g\n", worst_engine,
              worst_retrained);
  EXPECT_LE(worst_engine, 1e-4);
  // Retraining on another CPU may round differently along 12 steps: a looser bound.
  EXPECT_LE(worst_retrained, 1e-3);
}

}  // namespace
}  // namespace refusal::train
