#include "model/weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <set>

#include "model/architecture.h"
#include "refusal/error.h"

namespace refusal::model {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Tensors transformers keeps in some checkpoints that this model does not use: the position_ids
// buffer, and RoBERTa's pooler (RobertaForSequenceClassification has none).
bool ignorable(const ModelConfig& c, const TensorLayout& layout, const std::string& name) {
  const std::string p = layout.file_prefix;
  if (name == p + "embeddings.position_ids") return true;
  return !c.is_bert() && name.rfind(p + "pooler.", 0) == 0;
}

}  // namespace

std::string TensorLayout::file_name(const ModelConfig& config, const std::string& canonical) const {
  const std::string base = architecture_scheme(config).base + ".";
  if (canonical.rfind(base, 0) == 0) return file_prefix + canonical.substr(base.size());
  return canonical;
}

TensorLayout detect_layout(const ModelConfig& config, const TensorSet& tensors) {
  const auto& scheme = architecture_scheme(config);
  TensorLayout layout;
  const std::string word = "embeddings.word_embeddings.weight";
  layout.file_prefix = scheme.base + ".";
  if (tensors.find(scheme.base + "." + word) == nullptr && tensors.find(word) != nullptr) {
    layout.file_prefix = "";
  }
  layout.has_head = tensors.find(scheme.head_out + ".weight") != nullptr ||
                    tensors.find(scheme.head_out + ".bias") != nullptr;
  return layout;
}

std::span<const float> WeightStore::bind(const std::string& canonical,
                                         std::vector<std::int64_t> shape, bool read) {
  const std::string name = layout_.file_name(config_, canonical);
  const TensorView* t = tensors_.find(name);
  if (t == nullptr) throw Error("missing tensor '" + name + "' in " + files_text_);
  if (t->shape != shape) {
    throw Error(t->file.string() + ": tensor '" + name + "' has shape " + t->shape_string() +
                ", but config.json implies " + shape_text(shape));
  }
  bound_.insert(name);
  if (!read) {
    if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16) {
      throw Error(t->file.string() + ": tensor '" + name + "': dtype " + dtype_name(t->dtype) +
                  " is not a weight dtype (F32, F16 or BF16 expected)");
    }
    parameters_ += t->numel();
    return {};
  }
  converted_.emplace_back();
  auto view = as_float(*t, converted_.back());
  parameters_ += t->numel();
  return view;
}

void WeightStore::release(std::span<const float>& view) {
  if (view.empty()) return;
  const float* p = view.data();
  bool owned = false;
  for (auto& buffer : converted_) {
    if (!buffer.empty() && buffer.data() == p) {
      std::vector<float>().swap(buffer);
      owned = true;
      break;
    }
  }
  if (!owned) {
    // Whole pages inside the tensor only: neighbours may still be in use.
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
    const auto end = reinterpret_cast<std::uintptr_t>(p + view.size()) / page * page;
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
  view = {};
}

void WeightStore::release_encoder_matrices(std::size_t index) {
  auto& layer = weights_.layers.at(index);
  {
    for (auto* linear : {&layer.query, &layer.key, &layer.value, &layer.attention_out,
                         &layer.intermediate, &layer.output}) {
      release(linear->weight);
    }
  }
}

WeightStore::WeightStore(const ModelConfig& c, const std::vector<std::filesystem::path>& files,
                         bool require_head, bool encoder_matrices)
    : tensors_(files), config_(c), layout_(detect_layout(c, tensors_)) {
  for (const auto& f : files) files_text_ += (files_text_.empty() ? "" : ", ") + f.string();
  const auto& scheme = architecture_scheme(c);
  const bool encoder_found =
      tensors_.find(layout_.file_prefix + "embeddings.word_embeddings.weight") != nullptr;
  if (require_head && !layout_.has_head && encoder_found) {
    const std::string base = scheme.class_name.substr(0, scheme.class_name.find("For")) + "Model";
    throw Error(files_text_ + ": a bare " + base + " (no tensor '" + scheme.head_out +
                ".weight'): it has no classification head; fine-tune it with refusal train "
                "--init first");
  }
  const std::int64_t h = c.hidden_size;
  const std::int64_t ffn = c.intermediate_size;

  auto norm = [&](const std::string& prefix) {
    return LayerNormWeights{bind(prefix + ".weight", {h}), bind(prefix + ".bias", {h})};
  };
  auto linear = [&](const std::string& prefix, std::int64_t out, std::int64_t in,
                    bool read_weight = true) {
    return LinearWeights{bind(prefix + ".weight", {out, in}, read_weight),
                         bind(prefix + ".bias", {out})};
  };

  auto& w = weights_;
  const std::string base = scheme.base + ".";
  w.word_embeddings = bind(base + "embeddings.word_embeddings.weight", {c.vocab_size, h});
  w.position_embeddings =
      bind(base + "embeddings.position_embeddings.weight", {c.max_position_embeddings, h});
  w.token_type_embeddings =
      bind(base + "embeddings.token_type_embeddings.weight", {c.type_vocab_size, h});
  w.embedding_norm = norm(base + "embeddings.LayerNorm");
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = base + "encoder.layer." + std::to_string(i);
    EncoderLayerWeights layer;
    const bool m = encoder_matrices;
    layer.query = linear(p + ".attention.self.query", h, h, m);
    layer.key = linear(p + ".attention.self.key", h, h, m);
    layer.value = linear(p + ".attention.self.value", h, h, m);
    layer.attention_out = linear(p + ".attention.output.dense", h, h, m);
    layer.attention_norm = norm(p + ".attention.output.LayerNorm");
    layer.intermediate = linear(p + ".intermediate.dense", ffn, h, m);
    layer.output = linear(p + ".output.dense", h, ffn, m);
    layer.output_norm = norm(p + ".output.LayerNorm");
    w.layers.push_back(layer);
  }
  w.has_head = layout_.has_head;
  if (w.has_head) {
    w.classifier_dense = linear(scheme.head_dense, h, h);
    w.classifier_out = linear(scheme.head_out, c.num_labels(), h);
  } else if (c.is_bert() &&
             tensors_.find(layout_.file_name(c, scheme.head_dense + ".weight")) != nullptr) {
    w.classifier_dense = linear(scheme.head_dense, h, h);  // the pooler of a bare BertModel
  }

  // Anything else is a sign of another architecture or a config that does not match.
  for (const auto& [name, t] : tensors_.all()) {
    if (ignorable(c, layout_, name) || bound_.count(name)) continue;
    std::string why = "not part of " + scheme.class_name;
    const std::string layer_prefix = layout_.file_prefix + "encoder.layer.";
    if (name.rfind(layer_prefix, 0) == 0) {
      why = "config.json says num_hidden_layers " + std::to_string(c.num_hidden_layers);
    }
    throw Error(t.file.string() + ": unexpected tensor '" + name + "' (" + why + ")");
  }
}

}  // namespace refusal::model
