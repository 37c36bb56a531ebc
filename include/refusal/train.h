// Fine-tuning (or training from scratch) a RobertaForSequenceClassification or
// BertForSequenceClassification (from a classifier, or a bare RobertaModel/BertModel) on CPU: the
// library side of `refusal train`. See docs/training.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace refusal {

struct TrainOptions {
  std::vector<std::string> data;    // JSONL (.gz) / CSV files with `text` and `label`
  std::string eval;                 // held-out file; empty: split `data` by `split`
  std::string init;                 // model folder or hub id to fine-tune, or
  std::string config;               // config.json of a fresh model (needs `tokenizer`)
  std::string tokenizer;            // tokenizer folder (default: the init folder)
  std::vector<std::string> labels;  // label names by id; default: config.json's id2label (a
                                    // base model without one: LABEL_0, LABEL_1)
  std::string output;               // the Hugging Face model folder written at the end
  std::string text_field = "text";
  std::string label_field = "label";
  std::string group_by;      // rows with the same value of this field stay on one side
  double split = 0.9;        // share of rows (groups) used for training
  std::size_t max_rows = 0;  // 0: all usable rows
  int epochs = 3;
  int batch_size = 16;
  int grad_accum = 1;
  double lr = 2e-5;
  int warmup_steps = 500;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;
  int max_length = 512;
  std::uint64_t seed = 42;
  std::string class_weights = "none";  // "none", "auto" (balanced), or "w0,w1,..."
  bool dropout = true;
  bool shuffle = true;
  int threads = 0;                    // 0: as EngineOptions::threads (environment, CPUs)
  int checkpoint_every = 0;           // optimizer steps; 0: only at the end of each epoch
  int eval_every = 0;                 // optimizer steps; 0: only at the end of each epoch
  bool resume = false;                // continue from the latest checkpoint in output
  std::int64_t stop_after_steps = 0;  // testing: checkpoint and stop after this many steps
  std::string save_dtype = "f32";     // "f32" or "f16"
  bool progress = true;               // progress line on stderr (a TTY only)
  std::string metrics;                // metrics JSONL (default: OUTPUT/metrics.jsonl)
};

struct EvalMetrics {
  std::size_t rows = 0;
  double loss = 0, accuracy = 0, precision = 0, recall = 0, f1 = 0;  // P/R/F1 of label 1
};

struct TrainResult {
  std::int64_t steps = 0;  // optimizer steps done in all
  std::int64_t total_steps = 0;
  std::size_t train_rows = 0, eval_rows = 0;
  std::vector<double> step_losses;  // this run's steps
  std::optional<EvalMetrics> initial_eval, final_eval;
  bool stopped_early = false;  // stop_after_steps reached
  std::filesystem::path output;
};

// Reads the data, tokenizes, splits, trains, checkpoints and writes the output folder.
TrainResult run_training(const TrainOptions& options);

}  // namespace refusal
