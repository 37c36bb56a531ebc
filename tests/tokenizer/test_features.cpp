// tests/data/tokenizer/features.jsonl.gz: options the shared vectors do not cover (windows with a
// stride, no specials, pairs, added tokens with lstrip/rstrip/single_word, invalid UTF-8).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "refusal/error.h"
#include "vectors.h"

namespace refusal::test {
namespace {

using nlohmann::json;

const Tokenizer& tiny_tokenizer() {
  static const Tokenizer t = Tokenizer::from_tokenizer_json(kData + "/tiny.tokenizer.json");
  return t;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

void expect_window(const Encoding& e, const json& want, const std::string& name) {
  EXPECT_EQ(e.ids, want["ids"].get<std::vector<int32_t>>()) << name;
  EXPECT_EQ(e.tokens, want["tokens"].get<std::vector<std::string>>()) << name;
  EXPECT_EQ(offsets_json(e.offsets), want["offsets"].get<std::vector<std::vector<size_t>>>())
      << name;
  EXPECT_EQ(std::vector<int>(e.sequence_ids.begin(), e.sequence_ids.end()),
            want["sequence_ids"].get<std::vector<int>>())
      << name;
}

TEST(Features, MatchHuggingFace) {
  const std::vector<json> records = read_jsonl(kData + "/features.jsonl.gz");
  ASSERT_TRUE(records.at(0).contains("meta"));
  size_t checked = 0;
  for (size_t i = 1; i < records.size(); ++i) {
    const json& r = records[i];
    const std::string name = r["name"];
    const Tokenizer& tok = r["tokenizer"] == "tiny" ? tiny_tokenizer() : reference_tokenizer();
    const std::string text =
        r.contains("raw_hex") ? from_hex(r["raw_hex"]) : r["text"].get<std::string>();
    const bool special = r["add_special_tokens"];
    const json& windows = r["windows"];
    const size_t max_length =
        r["max_length"].is_null() ? kNoTruncation : r["max_length"].get<size_t>();
    EncodeOptions opts{.max_length = max_length, .add_special_tokens = special};
    if (r.contains("pair")) {
      const Encoding e = tok.encode_pair(text, r["pair"].get<std::string>(), opts);
      expect_window(e, windows[0], name);
      EXPECT_EQ(e.truncated, r["n_windows"].get<size_t>() > 1) << name;
    } else if (max_length == kNoTruncation) {
      ASSERT_EQ(windows.size(), 1u) << name;
      const Encoding e = tok.encode(text, opts);
      expect_window(e, windows[0], name);
      EXPECT_FALSE(e.truncated);
      EXPECT_EQ(tok.decode(e.ids), r["decoded"].get<std::string>()) << name;
      EXPECT_EQ(tok.decode(e.ids, false), r["decoded_with_special"].get<std::string>()) << name;
      if (r.contains("raw_hex")) {
        // Strict mode refuses the same bytes, naming where they go wrong.
        EncodeOptions strict = opts;
        strict.utf8_errors = Utf8Errors::kStrict;
        EXPECT_THROW(
            {
              try {
                tok.encode(text, strict);
              } catch (const Error& err) {
                EXPECT_NE(std::string(err.what()).find("byte offset"), std::string::npos);
                throw;
              }
            },
            Error)
            << name;
      }
    } else {
      const size_t stride = r["stride"];
      const std::vector<Encoding> got = tok.encode_windows(text, max_length, stride, opts);
      ASSERT_EQ(got.size(), windows.size()) << name;
      for (size_t w = 0; w < got.size(); ++w) {
        expect_window(got[w], windows[w], name + " window " + std::to_string(w));
      }
      // The truncated encoding is the first window.
      const Encoding first = tok.encode(text, opts);
      expect_window(first, windows[0], name + " encode");
      EXPECT_EQ(first.truncated, windows.size() > 1) << name;
    }
    ++checked;
  }
  EXPECT_GE(checked, 140u);
}

}  // namespace
}  // namespace refusal::test
