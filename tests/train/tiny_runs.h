// The two small training runs whose results are committed, tests/data/train/tiny-trained
// (RoBERTa) and tiny-bert-trained (BERT from a bare BertModel): their data, options and
// trainers, shared by the tests that check those folders and by write_tiny_trained, the program
// that writes them (tests/data/train/README.md).
#pragma once

#include <cstddef>
#include <filesystem>
#include <vector>

#include "train/trainer.h"

namespace refusal::train::tiny {

inline const std::filesystem::path kRobertaModel = "tests/data/models/tiny-roberta-f32";
inline const std::filesystem::path kBertBase = "tests/data/models/tiny-bert-base";

// `n` sequences <s> body </s> (ids 0 … 2) of 3 to 11 body ids, labels alternating.
std::vector<Example> toy_data(std::size_t n);
// The same for BERT: [CLS]=2 body [SEP]=3.
std::vector<Example> bert_toy_data(std::size_t n);

// A trainer on tiny-roberta-f32's weights.
Trainer make_trainer(const TrainOptions& options);
// A trainer on the bare BertModel tiny-bert-base, its head initialised with seed 42.
Trainer bert_trainer_from_base(const TrainOptions& options);

// The options of the committed runs.
TrainOptions tiny_options();
TrainOptions bert_options();

// The committed runs: train on toy_data(48) / bert_toy_data(48) with those options.
void train_tiny(Trainer& trainer);
void train_tiny_bert(Trainer& trainer);

// Trains each run and saves its folder (F32) as `dir`/tiny-trained and `dir`/tiny-bert-trained.
void write_tiny_trained(const std::filesystem::path& dir);
void write_tiny_bert_trained(const std::filesystem::path& dir);

}  // namespace refusal::train::tiny
