// The BPE merge loop, the word cache and concurrent use.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tokenizer/bpe.h"
#include "vectors.h"

namespace refusal::test {
namespace {

// The short-word scan and HF's heap must agree on every word; random words over a small
// alphabet make many competing merges.
TEST(Bpe, ScanAndHeapPathsAgree) {
  const Tokenizer& tok = reference_tokenizer();
  const std::string alphabet = "etaoinshrdlu ETAO0123.,'-\xC3\xA9";
  std::mt19937 rng(11);
  // A tokenizer's Bpe is internal; reach it through a fresh instance of the same files.
  nlohmann::json j = nlohmann::json::parse(read_text(kProtectAi + "/tokenizer.json"));
  std::unordered_map<std::string, int32_t> vocab = j["model"]["vocab"];
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& m : j["model"]["merges"]) {
    const std::string s = m.is_string() ? m.get<std::string>()
                                        : m[0].get<std::string>() + " " + m[1].get<std::string>();
    merges.emplace_back(s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1));
  }
  const tokenizer::Bpe bpe(vocab, merges, std::nullopt, "test");
  EXPECT_EQ(bpe.num_merges(), 50000u);
  for (int i = 0; i < 3000; ++i) {
    std::string word;
    const size_t len = 1 + rng() % 40;
    for (size_t k = 0; k < len; ++k) word += alphabet[rng() % alphabet.size()];
    std::vector<tokenizer::BpePiece> scan, heap;
    bpe.tokenize_uncached(word, scan, false);
    bpe.tokenize_uncached(word, heap, true);
    ASSERT_EQ(scan.size(), heap.size()) << word;
    for (size_t k = 0; k < scan.size(); ++k) {
      ASSERT_EQ(scan[k].id, heap[k].id) << word;
      ASSERT_EQ(scan[k].start, heap[k].start) << word;
      ASSERT_EQ(scan[k].end, heap[k].end) << word;
    }
    // The pieces tile the word.
    ASSERT_EQ(scan.front().start, 0u);
    ASSERT_EQ(scan.back().end, word.size());
  }
  (void)tok;
}

TEST(Bpe, CacheGivesTheSameAnswer) {
  const Tokenizer tok = Tokenizer::from_model_folder(kProtectAi);
  const std::string text = "Repeated words: refusal refusal Refusal REFUSAL refusals, refusal.";
  tok.clear_cache();
  const Encoding cold = tok.encode(text);
  EXPECT_GT(tok.cache_size(), 0u);
  const Encoding warm = tok.encode(text);
  EXPECT_EQ(cold.ids, warm.ids);
  EXPECT_EQ(cold.offsets, warm.offsets);
}

TEST(Bpe, ConcurrentEncodesAgreeWithSerial) {
  const Tokenizer tok = Tokenizer::from_model_folder(kProtectAi);
  std::vector<std::string> texts;
  std::mt19937 rng(5);
  const std::vector<std::string> words = {"I'm", " sorry", " but", " I", " can't",   " help",
                                          " 😊",  " naïve", "\n\n", "  ", " refusal", " 42"};
  for (int i = 0; i < 400; ++i) {
    std::string t;
    for (int k = 0; k < 60; ++k) t += words[rng() % words.size()];
    texts.push_back(t);
  }
  std::vector<std::vector<int32_t>> serial;
  for (const auto& t : texts) serial.push_back(tok.encode(t).ids);
  tok.clear_cache();
  std::vector<std::vector<int32_t>> parallel(texts.size());
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (size_t i = static_cast<size_t>(th); i < texts.size(); i += 4) {
        parallel[i] = tok.encode(texts[i]).ids;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(parallel, serial);
}

TEST(Bpe, TruncationStopsEarlyButAgreesWithTheFullEncoding) {
  const Tokenizer& tok = reference_tokenizer();
  std::string text;
  for (int i = 0; i < 2000; ++i) text += " word" + std::to_string(i);
  const Encoding full = tok.encode(text, {.max_length = kNoTruncation});
  const Encoding cut = tok.encode(text, {.max_length = 128});
  ASSERT_EQ(cut.ids.size(), 128u);
  EXPECT_TRUE(cut.truncated);
  EXPECT_FALSE(full.truncated);
  EXPECT_TRUE(std::equal(cut.ids.begin(), cut.ids.end() - 1, full.ids.begin()));
  EXPECT_EQ(cut.ids.back(), full.ids.back());  // </s>
  // The default is the model's 512.
  EXPECT_EQ(tok.encode(text).ids.size(), 512u);
}

}  // namespace
}  // namespace refusal::test
