// `refusal train`: fine-tunes (or trains from a config) a RobertaForSequenceClassification or
// BertForSequenceClassification (from a classifier or a bare RobertaModel/BertModel) on labelled
// rows and writes a Hugging Face model folder. See docs/training.md.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "refusal/train.h"

namespace refusal::app {
namespace {

int run_train(const TrainOptions& o) {
  const TrainResult r = run_training(o);
  if (r.stopped_early) {
    std::printf("stopped after step %lld of %lld; checkpoint in %s (continue with --resume)\n",
                static_cast<long long>(r.steps), static_cast<long long>(r.total_steps),
                r.output.string().c_str());
    return 0;
  }
  std::printf("trained %lld steps on %zu rows; model saved to %s\n",
              static_cast<long long>(r.steps), r.train_rows, r.output.string().c_str());
  auto line = [](const char* what, const EvalMetrics& m) {
    std::printf(
        "%s eval (%zu rows): loss %.4f  accuracy %.4f  precision %.4f  recall %.4f  F1 %.4f\n",
        what, m.rows, m.loss, m.accuracy, m.precision, m.recall, m.f1);
  };
  if (r.initial_eval) line("initial", *r.initial_eval);
  if (r.final_eval) line("final  ", *r.final_eval);
  return 0;
}

}  // namespace

Command add_train_command(CLI::App& app) {
  auto options = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand("train",
                                 "Fine-tune or train a RoBERTa or BERT sequence classifier "
                                 "on rows with text and label; writes a HF model folder");
  auto& o = *options;
  cmd->add_option("--data", o.data, "Training rows: JSONL (.gz) or CSV with text and label")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--eval", o.eval, "Held-out rows (default: split --data by --split)")
      ->check(CLI::ExistingFile);
  cmd->add_option(
      "--init", o.init,
      "Model folder or hub id (local cache) to fine-tune: a *ForSequenceClassification, "
      "or a bare RobertaModel/BertModel (a new head is initialised)");
  cmd->add_option("--config", o.config, "config.json of a fresh model trained from scratch")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tokenizer", o.tokenizer, "Tokenizer folder (default: the --init folder)");
  cmd->add_option("--labels", o.labels,
                  "Label names by id, e.g. NORMAL,REJECTION (default: config.json's id2label; "
                  "a base model without one has LABEL_0,LABEL_1)")
      ->delimiter(',');
  cmd->add_option("-o,--output", o.output, "Output folder (model, checkpoints, metrics)")
      ->required();
  cmd->add_option("--text-field", o.text_field, "Field/column with the text")
      ->capture_default_str();
  cmd->add_option("--label-field", o.label_field, "Field/column with the label (id or name)")
      ->capture_default_str();
  cmd->add_option("--group-by", o.group_by,
                  "Keep rows with the same value of FIELD on one side of the split");
  cmd->add_option("--split", o.split, "Share of rows (groups) for training")->capture_default_str();
  cmd->add_option("--max-rows", o.max_rows, "Use only the first N usable rows (0: all)");
  cmd->add_option("--epochs", o.epochs)->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size)->capture_default_str();
  cmd->add_option("--grad-accum", o.grad_accum, "Micro-batches per optimizer step")
      ->capture_default_str();
  cmd->add_option("--lr", o.lr, "Peak learning rate")->capture_default_str();
  cmd->add_option("--warmup-steps", o.warmup_steps)->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay)->capture_default_str();
  cmd->add_option("--max-grad-norm", o.max_grad_norm, "Global-norm clipping (0: off)")
      ->capture_default_str();
  cmd->add_option("--max-length", o.max_length, "Tokens per text, specials included")
      ->capture_default_str();
  cmd->add_option("--seed", o.seed)->capture_default_str();
  cmd->add_option("--class-weights", o.class_weights, "none, auto (balanced) or w0,w1,...")
      ->capture_default_str();
  cmd->add_flag(
      "--no-dropout", [&o](std::int64_t) { o.dropout = false; }, "Turn dropout off");
  cmd->add_flag(
      "--no-shuffle", [&o](std::int64_t) { o.shuffle = false; }, "Keep the data order");
  cmd->add_option("--threads", o.threads,
                  "Worker threads (0: $REFUSAL_NUM_THREADS, else $OMP_NUM_THREADS, else the "
                  "CPUs this process may use)");
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "Also checkpoint every N steps");
  cmd->add_option("--eval-every", o.eval_every, "Also evaluate every N steps");
  cmd->add_flag("--resume", o.resume, "Continue from the latest checkpoint in --output");
  cmd->add_option("--save-dtype", o.save_dtype, "f32 or f16")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->capture_default_str();
  cmd->add_option("--metrics", o.metrics, "Metrics JSONL (default: OUTPUT/metrics.jsonl)");
  cmd->add_flag(
      "--no-progress", [&o](std::int64_t) { o.progress = false; }, "No progress on stderr");
  cmd->add_option("--stop-after-steps", o.stop_after_steps)->group("");  // testing: simulated kill
  return [options] { return run_train(*options); };
}

}  // namespace refusal::app
