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

const std::unordered_map<std::string, int32_t> kNoVocab;
const std::vector<std::pair<std::string, std::string>> kNoMerges;

}  // namespace

Model::Model(ModelSpec spec)
    : origin(spec.origin),
      type(spec.type),
      // A WordPiece model keeps an empty (unused) BPE.
      bpe(spec.type == ModelType::kBpe ? spec.vocab : kNoVocab,
          spec.type == ModelType::kBpe ? spec.merges : kNoMerges,
          spec.type == ModelType::kBpe ? unk_id_of(spec) : std::nullopt, spec.origin),
      normalizer(spec.normalizer),
      added(resolve_added(spec)),
      post(spec.post),
      decoder(spec.decoder),
      decoder_prefix(spec.decoder_prefix),
      decoder_cleanup(spec.decoder_cleanup),
      model_max_length(spec.model_max_length) {
  if (type == ModelType::kWordPiece && !spec.unk_token) {
    throw Error(origin + ": model.unk_token: WordPiece needs an unknown token");
  }
  const std::optional<int32_t> unk_id =
      type == ModelType::kWordPiece ? unk_id_of(spec) : std::nullopt;
  int32_t size = 0;
  for (const auto& [token, id] : spec.vocab) size = std::max(size, id + 1);
  id_to_token.resize(static_cast<size_t>(size));
  for (const auto& [token, id] : spec.vocab) id_to_token[static_cast<size_t>(id)] = token;
  vocab = std::move(spec.vocab);
  if (type == ModelType::kWordPiece) {
    wordpiece =
        WordPiece(vocab, *unk_id, spec.continuing_subword_prefix, spec.max_input_chars_per_word);
  }
  auto id_of = [&](const std::string& token) -> std::optional<int32_t> {
    if (const AddedToken* t = added.by_content(token)) return t->id;
    const auto it = vocab.find(token);
    if (it != vocab.end()) return it->second;
    return std::nullopt;
  };
  if (post.kind == PostProcessor::Kind::kRoberta || post.kind == PostProcessor::Kind::kBert) {
    for (auto [token, id] :
         {std::pair{&post.cls_token, &post.cls_id}, std::pair{&post.sep_token, &post.sep_id}}) {
      if (*id >= 0) continue;
      const auto found = id_of(*token);
      if (!found) throw Error(origin + ": special token \"" + *token + "\" has no id");
      *id = *found;
    }
    post.build_templates();
  }
  for (auto* pieces : {&post.single, &post.pair}) {
    for (TemplatePiece& p : *pieces) {
      if (p.sequence >= 0 || p.id >= 0) continue;
      const auto found = id_of(p.token);
      if (!found) throw Error(origin + ": special token \"" + p.token + "\" has no id");
      p.id = *found;
    }
  }
  if (spec.pad_token) pad_id = id_of(*spec.pad_token);
}

}  // namespace refusal::tokenizer
