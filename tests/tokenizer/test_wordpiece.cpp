// BERT WordPiece (all-MiniLM-L6-v2) against HF tokenizers: every code point through
// BertNormalizer / BertPreTokenizer, hand-made cases with other normalizer settings, windows,
// pairs and decode (tests/data/tokenizer/wordpiece_features.jsonl.gz), the vocab.txt-only
// folder, and the errors. Data: scripts/vectors/make_wordpiece_vectors.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "refusal/error.h"
#include "tokenizer/bert_normalizer.h"
#include "tokenizer/unicode.h"
#include "vectors.h"

namespace refusal::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string kMiniLm = kData + "/all-minilm-l6-v2";

json minilm_json() {
  static const json j = json::parse(read_text(kMiniLm + "/tokenizer.json"));
  return j;
}

// MiniLM's tokenizer.json with a variant's patch (the script's VARIANTS), loaded once each.
const Tokenizer& variant(const std::string& name, const json& variants) {
  static std::map<std::string, Tokenizer> cache;
  const auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  json j = minilm_json();
  if (name != "minilm") {
    for (const auto& [key, patch] : variants.at(name).items()) {
      if (key == "normalizer" && !patch.is_null()) {
        j[key].update(patch);
      } else {
        j[key] = patch;
      }
    }
  }
  return cache.emplace(name, Tokenizer::from_tokenizer_json_string(j.dump(), name)).first->second;
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
  EXPECT_EQ(std::vector<int>(e.type_ids.begin(), e.type_ids.end()),
            want["type_ids"].get<std::vector<int>>())
      << name;
  EXPECT_EQ(std::vector<int>(e.special_tokens_mask.begin(), e.special_tokens_mask.end()),
            want["special_tokens_mask"].get<std::vector<int>>())
      << name;
}

std::string hex_chars(const std::u32string& s) {
  if (s.empty()) return "-";
  std::ostringstream o;
  for (size_t i = 0; i < s.size(); ++i)
    o << (i ? " " : "") << std::hex << std::uppercase << static_cast<uint32_t>(s[i]);
  return o.str();
}

TEST(WordPieceUnicode, EveryCodePointLikeHuggingFace) {
  const std::vector<std::string> lines = read_lines(kData + "/hf_bert_chars.txt.gz");
  size_t checked = 0, bad = 0;
  for (const std::string& line : lines) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string a, b, k, ls, l, s;
    std::getline(in, a, '\t');
    std::getline(in, b, '\t');
    std::getline(in, k, '\t');
    std::getline(in, ls, '\t');
    std::getline(in, l, '\t');
    std::getline(in, s, '\t');
    const auto first = static_cast<char32_t>(std::stoul(a, nullptr, 16));
    const auto last = static_cast<char32_t>(std::stoul(b, nullptr, 16));
    for (char32_t cp = first; cp <= last; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      const tokenizer::BertClass c = tokenizer::bert_class(cp);
      const char cls = c == tokenizer::BertClass::kWhitespace    ? 's'
                       : c == tokenizer::BertClass::kPunctuation ? 'p'
                                                                 : 'o';
      const char flag = tokenizer::bert_clean_flag(cp);
      std::string got(1, cls);
      got += flag;
      // The maps were probed with clean_text on: removed chars map to nothing, spaces to ' '.
      for (auto [lower, strip] : {std::pair{true, true}, {true, false}, {false, true}}) {
        std::u32string out;
        if (flag == 'w') {
          out = U" ";
        } else if (flag != 'x') {
          tokenizer::bert_map_char(cp, lower, strip, out);
        }
        got.push_back('\t');
        got.append(out == std::u32string(1, cp) ? std::string("=") : hex_chars(out));
      }
      const std::string want = k + "\t" + ls + "\t" + l + "\t" + s;
      if (got != want && bad++ < 20) {
        ADD_FAILURE() << "U+" << std::hex << std::uppercase << static_cast<uint32_t>(cp)
                      << ": ours " << got << ", HF " << want;
      }
      ++checked;
    }
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(checked, 0x110000u - 0x800u);
}

TEST(WordPieceFeatures, MatchHuggingFace) {
  const std::vector<json> records = read_jsonl(kData + "/wordpiece_features.jsonl.gz");
  ASSERT_TRUE(records.at(0).contains("meta"));
  const json& variants = records[0]["meta"]["variants"];
  size_t checked = 0;
  for (size_t i = 1; i < records.size(); ++i) {
    const json& r = records[i];
    const std::string name = r["name"];
    const Tokenizer& tok = variant(r["variant"], variants);
    const std::string text =
        r.contains("raw_hex") ? from_hex(r["raw_hex"]) : r["text"].get<std::string>();
    const json& windows = r["windows"];
    const size_t max_length =
        r["max_length"].is_null() ? kNoTruncation : r["max_length"].get<size_t>();
    EncodeOptions opts{.max_length = max_length, .add_special_tokens = r["add_special_tokens"]};
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
    } else {
      const std::vector<Encoding> got = tok.encode_windows(text, max_length, r["stride"], opts);
      ASSERT_EQ(got.size(), windows.size()) << name;
      for (size_t w = 0; w < got.size(); ++w) {
        expect_window(got[w], windows[w], name + " window " + std::to_string(w));
      }
      const Encoding first = tok.encode(text, opts);
      expect_window(first, windows[0], name + " encode");
      EXPECT_EQ(first.truncated, windows.size() > 1) << name;
    }
    ++checked;
  }
  EXPECT_GE(checked, 450u);
}

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("refusal_wp_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
             "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  fs::path write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name, std::ios::binary) << content;
    return path_ / name;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(WordPieceFolder, VocabTxtGivesTheTokenizerJsonIds) {
  TempDir dir;
  for (const char* f : {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
    fs::copy_file(kMiniLm + "/" + f, dir.path() / f);
  }
  const Tokenizer from_txt = Tokenizer::from_model_folder(dir.path());
  const Tokenizer from_json = Tokenizer::from_model_folder(kMiniLm);
  for (const Tokenizer* t : {&from_txt, &from_json}) {
    // tokenizer.json's truncation (128) and padding are ignored: model_max_length is 512.
    EXPECT_EQ(t->model_max_length(), 512u);
    EXPECT_EQ(t->num_special_tokens_to_add(false), 2u);
    EXPECT_EQ(t->num_special_tokens_to_add(true), 3u);
    EXPECT_EQ(t->pad_token_id(), std::optional<int32_t>(0));
    EXPECT_EQ(t->token_to_id("[CLS]"), std::optional<int32_t>(101));
    EXPECT_EQ(t->token_to_id("##ing"), std::optional<int32_t>(2075));
    EXPECT_EQ(t->id_to_token(102), std::optional<std::string>("[SEP]"));
    EXPECT_EQ(t->vocab_size(), 30522u);
  }
  const std::vector<json> records = read_jsonl(kData + "/wordpiece_features.jsonl.gz");
  size_t compared = 0;
  for (size_t i = 1; i < records.size(); ++i) {
    const json& r = records[i];
    if (r["variant"] != "minilm") continue;
    const std::string text =
        r.contains("raw_hex") ? from_hex(r["raw_hex"]) : r["text"].get<std::string>();
    EncodeOptions opts{.max_length = kNoTruncation};
    const Encoding a = r.contains("pair")
                           ? from_txt.encode_pair(text, r["pair"].get<std::string>(), opts)
                           : from_txt.encode(text, opts);
    const Encoding b = r.contains("pair")
                           ? from_json.encode_pair(text, r["pair"].get<std::string>(), opts)
                           : from_json.encode(text, opts);
    EXPECT_EQ(a.ids, b.ids) << r["name"];
    EXPECT_EQ(a.offsets, b.offsets) << r["name"];
    EXPECT_EQ(a.type_ids, b.type_ids) << r["name"];
    EXPECT_EQ(from_txt.decode(a.ids), from_json.decode(b.ids)) << r["name"];
    ++compared;
  }
  EXPECT_GT(compared, 100u);
  // Config settings reach the normalizer: cased keeps "Café".
  TempDir cased;
  cased.write("vocab.txt", read_text(kMiniLm + "/vocab.txt"));
  cased.write("tokenizer_config.json",
              R"({"tokenizer_class": "BertTokenizer", "do_lower_case": false})");
  const Tokenizer c = Tokenizer::from_model_folder(cased.path());
  EXPECT_EQ(c.encode("Hello", {.add_special_tokens = false}).tokens,
            (std::vector<std::string>{"[UNK]"}));
  EXPECT_EQ(from_txt.encode("Hello", {.add_special_tokens = false}).tokens,
            (std::vector<std::string>{"hello"}));
}

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

Tokenizer load(const json& j) { return Tokenizer::from_tokenizer_json_string(j.dump(), "m.json"); }

TEST(WordPieceErrors, BrokenFilesSayWhere) {
  json j = minilm_json();
  j["model"].erase("vocab");
  expect_error([&] { load(j); }, {"m.json", "model.vocab", "missing"});
  j = minilm_json();
  j["model"].erase("unk_token");
  expect_error([&] { load(j); }, {"m.json", "model.unk_token"});
  j = minilm_json();
  j["model"]["unk_token"] = "[NOPE]";
  expect_error([&] { load(j); }, {"m.json", "[NOPE]", "not in the vocabulary"});
  j = minilm_json();
  j["normalizer"] = {{"type", "NFKC"}};
  expect_error([&] { load(j); }, {"unsupported normalizer", "NFKC"});
  j = minilm_json();
  j["normalizer"]["lowercase"] = "yes";
  expect_error([&] { load(j); }, {"normalizer.lowercase", "true or false"});
  j = minilm_json();
  j["pre_tokenizer"] = {{"type", "ByteLevel"}};
  expect_error([&] { load(j); }, {"unsupported model", "WordPiece with a ByteLevel"});
  j = minilm_json();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error([&] { load(j); }, {"unsupported pre_tokenizer", "Whitespace"});
  j = minilm_json();
  j["decoder"] = {{"type", "ByteLevel"}};
  expect_error([&] { load(j); }, {"unsupported decoder", "ByteLevel with a WordPiece model"});
  j = minilm_json();
  j["post_processor"]["single"][0] = {{"SpecialToken", {{"id", "[BOS]"}, {"type_id", 0}}}};
  expect_error([&] { load(j); }, {"post_processor.single[0]", "[BOS]", "special_tokens"});
  j = minilm_json();
  j["post_processor"]["pair"][3] = {{"Sequence", {{"id", "C"}, {"type_id", 1}}}};
  expect_error([&] { load(j); }, {"post_processor.pair[3]", "\"C\""});
  j = minilm_json();
  j["post_processor"].erase("single");
  expect_error([&] { load(j); }, {"post_processor.single", "missing"});
  j = minilm_json();
  j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 102}}};
  expect_error([&] { load(j); }, {"post_processor.cls"});

  TempDir dir;
  dir.write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\nhello\n");
  expect_error([&] { Tokenizer::from_model_folder(dir.path()); },
               {"vocab.txt:7", "duplicate token \"hello\"", "first on line 5"});
  dir.write("vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
  expect_error([&] { Tokenizer::from_model_folder(dir.path()); },
               {"vocab.txt", "unk_token \"[UNK]\"", "not in the vocabulary"});
  dir.write("vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
  dir.write("tokenizer_config.json", R"({"tokenizer_class": "XLNetTokenizer"})");
  expect_error([&] { Tokenizer::from_model_folder(dir.path()); },
               {"tokenizer_config.json", "XLNetTokenizer"});
  dir.write("tokenizer_config.json", R"({"do_lower_case": "no"})");
  expect_error([&] { Tokenizer::from_model_folder(dir.path()); },
               {"tokenizer_config.json", "do_lower_case"});
}

TEST(WordPiece, LongWordsAndOffsetsIntoTheOriginalText) {
  const Tokenizer tok = Tokenizer::from_tokenizer_json(kMiniLm + "/tokenizer.json");
  const EncodeOptions bare{.add_special_tokens = false};
  // 100 chars is still a word; 101 is [UNK] spanning all of it.
  EXPECT_NE(tok.encode(std::string(100, 'a'), bare).ids[0], 100);
  const Encoding e = tok.encode(std::string(101, 'a') + " x", bare);
  ASSERT_EQ(e.ids.size(), 2u);
  EXPECT_EQ(e.ids[0], 100);
  EXPECT_EQ(e.offsets[0], (Offsets{0, 101}));
  // "ÉCOLE" is lowercased and stripped to "ecole", but the offsets count the original chars
  // and bytes.
  const Encoding f = tok.encode(
      "\xC3\x89"
      "COLE",
      bare);
  ASSERT_FALSE(f.ids.empty());
  EXPECT_EQ(f.offsets.back().second, 5u);
  EXPECT_EQ(f.byte_offsets.back().second, 6u);
  // Specials written in the text are special tokens; decode skips them.
  const Encoding g = tok.encode("a [SEP] b");
  EXPECT_EQ(g.ids, (std::vector<int32_t>{101, 1037, 102, 1038, 102}));
  EXPECT_EQ(tok.decode(g.ids), "a b");
}

}  // namespace
}  // namespace refusal::test
