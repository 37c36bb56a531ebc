// Every vector of tests/data/tokenizer/vectors/ (made with HF tokenizers), through each way of
// loading the tokenizer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/utf8.h"
#include "tokenizer/byte_level.h"
#include "vectors.h"

namespace refusal::test {
namespace {

using nlohmann::json;

const std::string kVectors = kHfVectors + "/hf_tokenizers_rust_generated.jsonl";

struct Loaded {
  std::string name;
  Tokenizer tokenizer;
};

// The same tokenizer from tokenizer.json, from the model folder and from vocab + merges.
const std::vector<Loaded>& loaders() {
  static const std::vector<Loaded> all = {
      {"tokenizer.json", reference_tokenizer()},
      {"model folder", Tokenizer::from_model_folder(kProtectAi)},
      {"roberta-base vocab+merges+configs",
       Tokenizer::from_vocab_merges(kRobertaBase + "/vocab.json", kRobertaBase + "/merges.txt",
                                    kProtectAi + "/tokenizer_config.json",
                                    kProtectAi + "/special_tokens_map.json")},
      {"protectai vocab+merges+configs",
       Tokenizer::from_vocab_merges(kProtectAi + "/vocab.json", kProtectAi + "/merges.txt",
                                    kProtectAi + "/tokenizer_config.json",
                                    kProtectAi + "/special_tokens_map.json")},
  };
  return all;
}

std::vector<std::vector<size_t>> pairs_of(const json& j) {
  return j.get<std::vector<std::vector<size_t>>>();
}

TEST(SharedVectors, RustGeneratedIdsTokensOffsets) {
  const std::vector<json> records = read_jsonl(kVectors);
  ASSERT_GE(records.size(), 131u);
  for (const Loaded& l : loaders()) {
    EXPECT_EQ(l.tokenizer.model_max_length(), 512u) << l.name;
    size_t checked = 0;
    for (const json& r : records) {
      const std::string name = l.name + " / " + r["name"].get<std::string>();
      if (r.contains("text_pair")) {
        const Encoding e = l.tokenizer.encode_pair(r["text"].get<std::string>(),
                                                   r["text_pair"].get<std::string>());
        EXPECT_EQ(e.ids, r["ids"].get<std::vector<int32_t>>()) << name;
        EXPECT_EQ(e.tokens, r["tokens"].get<std::vector<std::string>>()) << name;
        EXPECT_EQ(offsets_json(e.offsets), pairs_of(r["offsets_char"])) << name;
        std::vector<int> seq;
        for (const json& s : r["sequence_ids"]) seq.push_back(s.is_null() ? -1 : s.get<int>());
        EXPECT_EQ(std::vector<int>(e.sequence_ids.begin(), e.sequence_ids.end()), seq) << name;
        ++checked;
        continue;
      }
      const std::string text = r["text"];
      // The vectors' settings: pipeline(truncation=True, max_length=512).
      const Encoding e = l.tokenizer.encode(text, {.max_length = 512});
      EXPECT_EQ(e.ids, r["ids"].get<std::vector<int32_t>>()) << name;
      EXPECT_EQ(e.tokens, r["tokens"].get<std::vector<std::string>>()) << name;
      EXPECT_EQ(offsets_json(e.offsets), pairs_of(r["offsets_char"])) << name;
      EXPECT_EQ(offsets_json(e.byte_offsets), pairs_of(r["offsets_byte"])) << name;
      EXPECT_EQ(std::vector<int>(e.special_tokens_mask.begin(), e.special_tokens_mask.end()),
                r["special_tokens_mask"].get<std::vector<int>>())
          << name;
      const size_t untruncated = r["n_ids_untruncated_no_special"];
      EXPECT_EQ(e.truncated, untruncated > 510) << name;
      const Encoding bare =
          l.tokenizer.encode(text, {.max_length = kNoTruncation, .add_special_tokens = false});
      EXPECT_EQ(bare.ids, r["ids_no_special_untruncated"].get<std::vector<int32_t>>()) << name;
      EXPECT_EQ(l.tokenizer.decode(e.ids), r["decoded"].get<std::string>()) << name;
      ++checked;
    }
    EXPECT_EQ(checked, records.size());
  }
}

// The pre-tokenizer alone against HF's pre_tokenize_str splits (byte-level text, char offsets).
TEST(SharedVectors, RustGeneratedPretokens) {
  size_t checked = 0;
  for (const json& r : read_jsonl(kVectors)) {
    if (!r.contains("pretokens") || r["pretokens"].is_null()) continue;
    const std::string text = r["text"];
    std::vector<std::string> pieces;
    std::vector<std::vector<size_t>> offsets;
    tokenizer::split_words(text.data(), 0, text.size(), [&](size_t b, size_t e) {
      pieces.push_back(tokenizer::bytes_to_byte_level(text.substr(b, e - b)));
      const std::string_view view = text;
      offsets.push_back(
          {base::count_code_points(view.substr(0, b)), base::count_code_points(view.substr(0, e))});
      return true;
    });
    std::vector<std::string> want_pieces;
    std::vector<std::vector<size_t>> want_offsets;
    for (const json& p : r["pretokens"]) {
      want_pieces.push_back(p[0]);
      want_offsets.push_back(p[1].get<std::vector<size_t>>());
    }
    EXPECT_EQ(pieces, want_pieces) << r["name"];
    EXPECT_EQ(offsets, want_offsets) << r["name"];
    ++checked;
  }
  EXPECT_GE(checked, 100u);
}

TEST(SharedVectors, PublicTestVectors) {
  const json all = json::parse(read_text(kHfVectors + "/public_test_vectors.json"));
  // The quick-brown-fox offsets come from a tokenizer that does not trim them: the same
  // pipeline without the RobertaProcessing post-processor.
  json untrimmed = json::parse(read_text(kProtectAi + "/tokenizer.json"));
  untrimmed["post_processor"] = nullptr;
  const Tokenizer plain = Tokenizer::from_tokenizer_json_string(untrimmed.dump(), "untrimmed");
  size_t checked = 0;
  for (const json& v : all) {
    if (!v.contains("canonical_ids")) continue;  // another tokenizer configuration
    const std::string text = v["text"];
    const bool special = v["add_special_tokens"];
    for (const Loaded& l : loaders()) {
      const Encoding e =
          l.tokenizer.encode(text, {.max_length = kNoTruncation, .add_special_tokens = special});
      EXPECT_EQ(e.ids, v["canonical_ids"].get<std::vector<int32_t>>()) << l.name << ": " << text;
      if (v.contains("canonical_tokens")) {
        EXPECT_EQ(e.tokens, v["canonical_tokens"].get<std::vector<std::string>>()) << text;
      }
      // Where the published expectation is right, it must hold too.
      if (v.value("match_ids", false)) {
        EXPECT_EQ(e.ids, v["expected_ids"].get<std::vector<int32_t>>()) << text;
      }
    }
    if (v.contains("expected_offsets_untrimmed")) {
      const Encoding e = plain.encode(text, {.max_length = kNoTruncation});
      EXPECT_EQ(offsets_json(e.offsets), pairs_of(v["expected_offsets_untrimmed"])) << text;
    }
    ++checked;
  }
  EXPECT_GE(checked, 9u);
}

}  // namespace
}  // namespace refusal::test
