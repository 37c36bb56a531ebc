// The training loop over tokenized examples: batching, gradient accumulation, AdamW with the
// linear schedule, clipping, evaluation, metrics, checkpoints and resume; saving a HF folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "refusal/train.h"
#include "train/optimizer.h"
#include "train/train_model.h"

namespace refusal::train {

struct Example {
  std::vector<std::int32_t> ids;
  int label = 0;
};

class Trainer {
 public:
  Trainer(TrainConfig config, Params params, const TrainOptions& options);

  // Trains on `train` (evaluating on `eval` when not empty). With options.resume, continues
  // from the latest checkpoint under options.output.
  TrainResult fit(const std::vector<Example>& train, const std::vector<Example>& eval);
  EvalMetrics evaluate(const std::vector<Example>& eval);

  TrainModel& model() { return model_; }
  base::ThreadPool& pool() { return pool_; }
  void set_class_weights(std::vector<float> w) { class_weights_ = std::move(w); }

 private:
  void save_checkpoint(const std::filesystem::path& dir) const;
  void load_checkpoint(const std::filesystem::path& dir);
  void log(const std::string& json_line);

  TrainOptions options_;
  TrainModel model_;
  AdamW optimizer_;
  base::ThreadPool pool_;
  std::vector<float> class_weights_;
  std::vector<float> grad_;
  // Position: optimizer steps done, and the next micro-batch (epoch, index in the epoch).
  std::int64_t step_ = 0;
  std::int64_t epoch_ = 0;
  std::int64_t batch_in_epoch_ = 0;
};

// Writes a Hugging Face *ForSequenceClassification folder: config.json (from `config_json`,
// architectures and model_type of the config's architecture, id2label/label2id from `labels`,
// dtype), model.safetensors (F32 or F16), and the tokenizer files of `tokenizer_folder` when
// given (tokenizer.json with its truncation and padding set to null, so that pipelines built on
// the folder do not pad or cut every input to the training length).
void save_hf_folder(const std::filesystem::path& dir, const Params& params,
                    const std::filesystem::path& config_json,
                    const std::vector<std::string>& labels, const std::string& dtype,
                    const std::filesystem::path& tokenizer_folder, const ModelConfig& model);

// Parameters as safetensors tensors (F32 or F16) and back.
void write_params(const std::filesystem::path& file, const Params& params, const std::string& dtype,
                  const std::string& prefix = "");

std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& output);

}  // namespace refusal::train
