#include "tokenizer/model.h"

#include <algorithm>

#include "refusal/error.h"

namespace refusal::tokenizer {
namespace {

std::optional<int32_t> unk_id_of(const ModelSpec& spec) {
  if (!spec.unk_token) return std::nullopt;
  const auto it = spec.vocab.find(*spec.unk_token);
  if (it == spec.vocab.end()) {
    throw Error(spec.origin + ": unk_token \"" + *spec.unk_token + "\" is not in the vocabulary");
  }
  return it->second;
}

std::vector<AddedToken> resolve_added(ModelSpec& spec) {
  // Tokens without an id take their vocabulary id, or new ids after the vocabulary like HF.
  int32_t next = 0;
  for (const auto& [token, id] : spec.vocab) next = std::max(next, id + 1);
  for (const AddedToken& t : spec.added_tokens) next = std::max(next, t.id + 1);
  for (AddedToken& t : spec.added_tokens) {
    if (t.id >= 0) continue;
    const auto it = spec.vocab.find(t.content);
    t.id = it != spec.vocab.end() ? it->second : next++;
  }
  return spec.added_tokens;
}

}  // namespace

Model::Model(ModelSpec spec)
    : origin(spec.origin),
      bpe(spec.vocab, spec.merges, unk_id_of(spec), spec.origin),
      added(resolve_added(spec)),
      post(spec.post),
      byte_level_decoder(spec.byte_level_decoder),
      model_max_length(spec.model_max_length) {
  int32_t size = 0;
  for (const auto& [token, id] : spec.vocab) size = std::max(size, id + 1);
  id_to_token.resize(static_cast<size_t>(size));
  for (const auto& [token, id] : spec.vocab) id_to_token[static_cast<size_t>(id)] = token;
  vocab = std::move(spec.vocab);
  auto id_of = [&](const std::string& token) -> std::optional<int32_t> {
    if (const AddedToken* t = added.by_content(token)) return t->id;
    const auto it = vocab.find(token);
    if (it != vocab.end()) return it->second;
    return std::nullopt;
  };
  if (post.roberta) {
    for (auto [token, id] :
         {std::pair{&post.cls_token, &post.cls_id}, std::pair{&post.sep_token, &post.sep_id}}) {
      if (*id >= 0) continue;
      const auto found = id_of(*token);
      if (!found) throw Error(origin + ": special token \"" + *token + "\" has no id");
      *id = *found;
    }
  }
  if (spec.pad_token) pad_id = id_of(*spec.pad_token);
}

}  // namespace refusal::tokenizer
