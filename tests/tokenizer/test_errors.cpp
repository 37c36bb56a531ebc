// Error paths: each says what went wrong and where.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "refusal/error.h"
#include "vectors.h"

namespace refusal::test {
namespace {

using nlohmann::json;

// Runs f, expects a refusal::Error whose message holds every one of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning " << *parts.begin();
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

json reference_json() {
  static const json j = json::parse(read_text(kProtectAi + "/tokenizer.json"));
  return j;
}

Tokenizer load(const json& j) { return Tokenizer::from_tokenizer_json_string(j.dump(), "t.json"); }

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("refusal_tok_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return path_ / name;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(Errors, InvalidJsonNamesFileAndByte) {
  expect_error([] { Tokenizer::from_tokenizer_json_string("{\"model\": [1, 2,", "bad.json"); },
               {"bad.json", "invalid JSON at byte"});
}

TEST(Errors, UnsupportedComponentsAreNamed) {
  json j = reference_json();
  j["normalizer"] = {{"type", "BertNormalizer"}};
  expect_error([&] { load(j); }, {"t.json", "unsupported normalizer", "BertNormalizer"});
  j = reference_json();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error([&] { load(j); }, {"unsupported pre_tokenizer", "Whitespace"});
  j = reference_json();
  j["pre_tokenizer"]["add_prefix_space"] = true;
  expect_error([&] { load(j); }, {"pre_tokenizer", "add_prefix_space"});
  j = reference_json();
  j["model"]["type"] = "WordPiece";
  expect_error([&] { load(j); }, {"unsupported model", "WordPiece"});
  j = reference_json();
  j["model"]["dropout"] = 0.1;
  expect_error([&] { load(j); }, {"unsupported model", "dropout"});
  j = reference_json();
  j["post_processor"] = {{"type", "Sequence"}};
  expect_error([&] { load(j); }, {"unsupported post_processor", "Sequence"});
  j = reference_json();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error([&] { load(j); }, {"unsupported decoder", "WordPiece"});
  j = reference_json();
  j["normalizer"] = {{"type", "NFC"}};
  expect_error([&] { load(j); }, {"unsupported normalizer", "NFC"});
}

TEST(Errors, TruncationAndPaddingInTheFileAreIgnored) {
  // As transformers' pipelines: the caller's max_length (or model_max_length) decides.
  json j = reference_json();
  j["padding"] = {{"strategy", "BatchLongest"}};
  j["truncation"] = {{"max_length", 7}, {"strategy", "LongestFirst"}, {"stride", 0}};
  const Tokenizer t = load(j);
  EXPECT_EQ(t.model_max_length(), 512u);
  EXPECT_GT(t.encode("one two three four five six seven eight nine ten").size(), 7u);
}

TEST(Errors, BrokenModelFieldsSayWhere) {
  json j = reference_json();
  j["model"]["merges"][7] = "no_space_here";
  expect_error([&] { load(j); }, {"model.merges[7]", "no_space_here"});
  j = reference_json();
  j["model"]["merges"].push_back("Ġzzzq Ġyyyq");
  expect_error([&] { load(j); }, {"merge 50001", "not in the vocabulary"});
  j = reference_json();
  j["model"].erase("vocab");
  expect_error([&] { load(j); }, {"model.vocab", "missing"});
  j = reference_json();
  j["model"]["vocab"]["Ġthe"] = "five";
  expect_error([&] { load(j); }, {"model.vocab", "Ġthe"});
  j = reference_json();
  j["added_tokens"][0]["content"] = 5;
  expect_error([&] { load(j); }, {"added_tokens[0]", "content"});
}

TEST(Errors, MissingFiles) {
  expect_error([] { Tokenizer::from_tokenizer_json("no/such/tokenizer.json"); },
               {"no/such/tokenizer.json", "cannot open"});
  expect_error([] { Tokenizer::from_model_folder("no/such/folder"); },
               {"no/such/folder", "not a folder"});
  TempDir empty;
  expect_error([&] { Tokenizer::from_model_folder(empty.path()); },
               {empty.path().string(), "no tokenizer.json"});
  expect_error([] { Tokenizer::from_vocab_merges(kRobertaBase + "/vocab.json", "missing.txt"); },
               {"missing.txt", "cannot open"});
}

TEST(Errors, MergesTxtLineNumbers) {
  TempDir dir;
  const auto vocab = dir.write("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  const auto good = dir.write("good.txt", "#version: 0.2\na b\n");
  const Tokenizer t = Tokenizer::from_vocab_merges(vocab, good);
  EXPECT_EQ(t.encode("ab", {.add_special_tokens = false}).ids, std::vector<int32_t>{2});
  const auto bad = dir.write("bad.txt", "#version: 0.2\na b\na b c\n");
  expect_error([&] { Tokenizer::from_vocab_merges(vocab, bad); }, {"bad.txt:3", "a b c"});
  const auto unknown = dir.write("unknown.txt", "#version: 0.2\na c\n");
  expect_error([&] { Tokenizer::from_vocab_merges(vocab, unknown); },
               {"merge 1", "\"c\"", "not in the vocabulary"});
}

TEST(Errors, TokenIdsBeyondTheLimitAreRefused) {
  // The id -> token table is as long as the largest id: a few bytes naming id 2,000,000,000
  // must be refused, not cost 64 GB. Every place a file gives an id is checked.
  const std::string limit = "from 0 to 4194303";
  json j = reference_json();
  j["model"]["vocab"]["Ġthe"] = 2000000000;
  expect_error([&] { load(j); }, {"t.json: model.vocab[\"Ġthe\"]", limit});
  j = reference_json();
  j["added_tokens"][0]["id"] = 4194304;
  expect_error([&] { load(j); }, {"added_tokens[0].id", limit});
  j = reference_json();
  j["post_processor"]["cls"][1] = -3;
  expect_error([&] { load(j); }, {"post_processor.cls", limit});
  TempDir dir;
  const auto vocab = dir.write("vocab.json", R"({"a": 0, "b": 4294967295})");
  const auto merges = dir.write("merges.txt", "#version: 0.2\n");
  expect_error([&] { Tokenizer::from_vocab_merges(vocab, merges); }, {"vocab.json", limit});
  const auto ok_vocab = dir.write("ok.json", R"({"a": 0, "<s>": 1, "</s>": 2})");
  for (const std::string key : {"-1", "4194304", "12abc", ""}) {
    const std::string text = R"({"added_tokens_decoder": {")" + key + R"(": {"content": "x"}}})";
    const auto config = dir.write("tokenizer_config.json", text);
    expect_error([&] { Tokenizer::from_vocab_merges(ok_vocab, merges, config); },
                 {"added_tokens_decoder", "the key must be a token id"});
  }
  // Real vocabularies are far below the limit.
  j = reference_json();
  j["model"]["vocab"]["zzzq"] = 250000;
  EXPECT_EQ(load(j).vocab_size(), 250001u);
}

TEST(Errors, StrictUtf8GivesTheByteOffset) {
  const Tokenizer& tok = reference_tokenizer();
  const std::string text = "fine text \xE2\x82 then more";
  EncodeOptions strict{.utf8_errors = Utf8Errors::kStrict};
  expect_error([&] { tok.encode(text, strict); }, {"invalid UTF-8", "byte offset 10"});
  expect_error([&] { tok.encode_windows(text, 128, 0, strict); }, {"byte offset 10"});
  expect_error([&] { tok.encode_pair("ok", text, strict); }, {"byte offset 10"});
  // The default replaces instead, like Python's errors="replace".
  const Encoding e = tok.encode(text);
  EXPECT_EQ(tok.decode(e.ids), "fine text \xEF\xBF\xBD then more");
}

TEST(Errors, ImpossibleLengths) {
  const Tokenizer& tok = reference_tokenizer();
  expect_error([&] { tok.encode("hello", {.max_length = 1}); },
               {"max_length 1", "2 special tokens"});
  expect_error([&] { tok.encode_windows("a b c d e f g h i j", 6, 4); },
               {"stride 4", "max_length 6"});
  expect_error([&] { tok.encode_pair("a", "b", {.max_length = 3}); }, {"4 special tokens"});
}

TEST(Errors, VocabularyLookups) {
  const Tokenizer& tok = reference_tokenizer();
  EXPECT_EQ(tok.token_to_id("<mask>"), 50264);
  EXPECT_EQ(tok.token_to_id("Ġworld"), 232);
  EXPECT_FALSE(tok.token_to_id("not a token").has_value());
  EXPECT_EQ(tok.id_to_token(232), "Ġworld");
  EXPECT_FALSE(tok.id_to_token(-1).has_value());
  EXPECT_FALSE(tok.id_to_token(1 << 30).has_value());
  EXPECT_EQ(tok.vocab_size(), 50265u);
  EXPECT_EQ(tok.pad_token_id(), 1);
  EXPECT_EQ(tok.num_special_tokens_to_add(), 2u);
  EXPECT_EQ(tok.num_special_tokens_to_add(true), 4u);
  EXPECT_EQ(tok.added_tokens().size(), 5u);
  // Unknown ids are skipped when decoding, as HF does.
  EXPECT_EQ(tok.decode(std::vector<int32_t>{-5, 31414, 99999999}), "Hello");
}

}  // namespace
}  // namespace refusal::test
