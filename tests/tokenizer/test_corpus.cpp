// 100% identical ids against PyPI tokenizers on 6,000 random texts and a slice of 3,307 real
// answers of the shared data (tests/data/tokenizer/corpus_slice.jsonl.gz: every source file,
// the longest texts, non-ASCII ones, every code point of the 51,540 texts, token counts at the
// truncation boundaries, the texts adding the most token ids), with and without truncation at
// 128 and 512, through the RoBERTa BPE (scripts/vectors/make_tokenizer_vectors.py) and the BERT
// WordPiece of all-MiniLM-L6-v2 (scripts/vectors/make_wordpiece_vectors.py). Encodes from several
// threads at once, which also exercises the shared word cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "vectors.h"

namespace refusal::test {
namespace {

using nlohmann::json;

struct Case {
  std::string label;
  std::string text;
  json want;
};

// The hashes the script computes, from our encodings.
json our_record(const Tokenizer& tok, const std::string& text, bool with_ids) {
  const Encoding full = tok.encode(text, {.max_length = kNoTruncation});
  const Encoding bare =
      tok.encode(text, {.max_length = kNoTruncation, .add_special_tokens = false});
  const Encoding t128 = tok.encode(text, {.max_length = 128, .with_tokens = false});
  const Encoding t128_bare =
      tok.encode(text, {.max_length = 128, .add_special_tokens = false, .with_tokens = false});
  const Encoding t512 = tok.encode(text, {.max_length = 512, .with_tokens = false});
  Fnv more;
  for (const auto& [a, b] : full.offsets) {
    more.add(static_cast<uint32_t>(a));
    more.add(static_cast<uint32_t>(b));
  }
  for (const auto* ids : {&bare.ids, &t128.ids, &t128_bare.ids, &t512.ids}) {
    more.add(0xFFFFFFFFu);
    for (int32_t id : *ids) more.add(static_cast<uint32_t>(id));
  }
  json r = {{"n", full.ids.size()}, {"h_ids", fnv_ids(full.ids)}, {"h_more", more.hex()}};
  if (with_ids) r["ids"] = bare.ids;
  return r;
}

const Tokenizer& minilm_tokenizer() {
  static const Tokenizer t =
      Tokenizer::from_tokenizer_json(kData + "/all-minilm-l6-v2/tokenizer.json");
  return t;
}

size_t check_all(const std::vector<Case>& cases, const Tokenizer& tok = reference_tokenizer()) {
  std::atomic<size_t> next{0}, failures{0};
  std::mutex mu;
  auto work = [&] {
    for (size_t i = next++; i < cases.size(); i = next++) {
      const Case& c = cases[i];
      const json got = our_record(tok, c.text, c.want.contains("ids"));
      bool same = true;
      for (const char* key : {"n", "h_ids", "h_more", "ids"}) {
        if (c.want.contains(key) && got[key] != c.want[key]) same = false;
      }
      if (!same && failures++ < 10) {
        std::lock_guard<std::mutex> lock(mu);
        ADD_FAILURE() << c.label << ": differs from HF tokenizers\n  text: "
                      << json(c.text).dump().substr(0, 300) << "\n  n ours " << got["n"]
                      << " theirs " << c.want["n"]
                      << (got["h_ids"] != c.want["h_ids"] ? ", ids differ" : "")
                      << (c.want.contains("ids") && got["ids"] != c.want["ids"]
                              ? ", bare ids differ"
                              : "");
        if (std::getenv("REFUSAL_CORPUS_DEBUG") != nullptr) {
          const Encoding e = tok.encode(c.text, {.max_length = kNoTruncation});
          std::cerr << "DEBUG "
                    << json(
                           {{"text", c.text}, {"ids", e.ids}, {"offsets", offsets_json(e.offsets)}})
                           .dump()
                    << "\n";
        }
      }
    }
  };
  std::vector<std::thread> threads;
  const unsigned n = std::max(2u, std::min(8u, std::thread::hardware_concurrency()));
  for (unsigned t = 0; t < n; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0u);
  return cases.size();
}

void check_random(const std::string& file, const Tokenizer& tok) {
  const std::vector<json> records = read_jsonl(kData + "/" + file);
  ASSERT_TRUE(records.at(0).contains("meta"));
  std::vector<Case> cases;
  for (size_t i = 1; i < records.size(); ++i) {
    json want = records[i];
    std::string text = want["text"];
    want.erase("text");
    ASSERT_TRUE(want.contains("ids"));
    cases.push_back({"random text " + std::to_string(i - 1), std::move(text), std::move(want)});
  }
  EXPECT_EQ(check_all(cases, tok), 6000u);
}

// The slice of real answers: its texts are in corpus_slice.jsonl.gz, `vectors` holds the
// reference hashes for each of them in the same order.
void check_slice(const std::string& vectors, const Tokenizer& tok) {
  const std::vector<json> texts = read_jsonl(kData + "/corpus_slice.jsonl.gz");
  const std::vector<json> records = read_jsonl(kData + "/" + vectors);
  ASSERT_TRUE(texts.at(0).contains("meta"));
  ASSERT_TRUE(records.at(0).contains("meta"));
  ASSERT_EQ(records.size(), texts.size())
      << vectors << " does not match corpus_slice.jsonl.gz: rerun the scripts";
  std::vector<Case> cases;
  std::set<std::string> files;
  size_t with_ids = 0;
  for (size_t r = 1; r < records.size(); ++r) {
    const json& t = texts[r];
    const std::string src = t["src"];
    const std::string label = src + ":" + std::to_string(t["line"].get<size_t>() + 1);
    ASSERT_EQ(records[r]["src"], src) << label;
    ASSERT_EQ(records[r]["line"], t["line"]) << label;
    std::string text = t["text"];
    if (records[r].contains("h_text")) {
      Fnv h;
      for (unsigned char c : text) h.add(c);
      ASSERT_EQ(h.hex(), records[r]["h_text"].get<std::string>())
          << label << ": not the text " << vectors << " was made from";
    }
    files.insert(src);
    with_ids += records[r].contains("ids");
    cases.push_back({label, std::move(text), records[r]});
  }
  EXPECT_EQ(files.size(), 8u);  // every file of the shared data
  EXPECT_GT(with_ids, 300u);
  EXPECT_GE(check_all(cases, tok), 3000u);
}

TEST(Corpus, RandomTextsMatchHuggingFace) {
  check_random("corpus_random.jsonl.gz", reference_tokenizer());
}

TEST(Corpus, RealAnswersMatchHuggingFace) {
  check_slice("corpus_slice.jsonl.gz", reference_tokenizer());
}

TEST(Corpus, WordPieceRandomTextsMatchHuggingFace) {
  check_random("wordpiece_corpus_random.jsonl.gz", minilm_tokenizer());
}

TEST(Corpus, WordPieceRealAnswersMatchHuggingFace) {
  check_slice("wordpiece_corpus_slice.jsonl.gz", minilm_tokenizer());
}

}  // namespace
}  // namespace refusal::test
