// libFuzzer target: any bytes as the tokenizer files of a model folder (src/tokenizer/
// loader.cpp, model.cpp): tokenizer.json, vocab.json + merges.txt, vocab.txt,
// tokenizer_config.json, special_tokens_map.json, loaded as Tokenizer::from_model_folder does.
// A tokenizer it accepts must then encode, encode pairs and windows, and decode any text
// without breaking its promises (ids in range, offsets inside the text on character
// boundaries, lengths within max_length).
//
// Input: byte 0 says which files the folder holds (bit 0 tokenizer.json, 1 vocab.json +
// merges.txt, 2 vocab.txt, 3 tokenizer_config.json, 4 special_tokens_map.json); their contents
// follow in that order, each but the last as FuzzedDataProvider::ConsumeRandomLengthString
// reads it (a backslash doubled, the string ended by a backslash and another character).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "fuzz_support.h"
#include "refusal/error.h"
#include "refusal/tokenizer.h"

namespace {

namespace fs = std::filesystem;

constexpr std::int32_t kMaxTokenId = (1 << 22) - 1;  // src/tokenizer/loader.cpp

const char* const kTexts[] = {
    "Hello, world! I'm sorry, but I can't help with that.",
    "  leading and trailing spaces \t\n",
    "\xc3\xbc"
    "n"
    "\xc3\xaf"
    "c"
    "\xc3\xb6"
    "d"
    "\xc3\xa9 "
    "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x99\x82 caf"
    "e\xcc\x81",
    "<s>special</s>[CLS] x [SEP]<mask>[UNK]<pad>",
    "bad \xff\xfe utf-8 \xc3",
    "",
};

void check_encoding(const refusal::Encoding& e, std::string_view text, std::size_t max_length) {
  FUZZ_CHECK(e.ids.size() == e.offsets.size() && e.ids.size() == e.byte_offsets.size());
  FUZZ_CHECK(e.ids.size() <= max_length);
  const std::size_t chars = refusal::base::count_code_points(text);
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    FUZZ_CHECK(e.ids[i] >= 0 && e.ids[i] <= kMaxTokenId);
    const auto [b, end] = e.byte_offsets[i];
    FUZZ_CHECK(b <= end && end <= text.size());
    FUZZ_CHECK(e.offsets[i].first <= e.offsets[i].second && e.offsets[i].second <= chars);
    FUZZ_CHECK(b == text.size() || !refusal::base::is_utf8_continuation(text[b]));
    FUZZ_CHECK(end == text.size() || !refusal::base::is_utf8_continuation(text[end]));
  }
}

void exercise(const refusal::Tokenizer& tok) {
  FUZZ_CHECK(tok.vocab_size() <= static_cast<std::size_t>(kMaxTokenId) + 1);
  std::string added = "x ";
  for (const auto& t : tok.added_tokens()) added += t.content + " y";
  std::vector<std::string> texts(std::begin(kTexts), std::end(kTexts));
  texts.push_back(added.substr(0, 4096));
  const std::size_t specials = tok.num_special_tokens_to_add();
  const std::size_t pair_specials = tok.num_special_tokens_to_add(true);
  for (const std::string& raw : texts) {
    // What the readers and the server hand the tokenizer: valid UTF-8.
    const std::string text = refusal::base::repair_utf8(raw);
    for (const std::size_t max_length : {specials + 1, specials + 7, std::size_t{512}}) {
      refusal::EncodeOptions o;
      o.max_length = max_length;
      check_encoding(tok.encode(text, o), text, max_length);
      o.add_special_tokens = false;
      check_encoding(tok.encode(text, o), text, max_length);
      const auto windows = tok.encode_windows(text, max_length, (max_length - specials) / 2);
      FUZZ_CHECK(!windows.empty());
      for (const auto& w : windows) check_encoding(w, text, max_length);
      if (max_length > pair_specials) {
        o.add_special_tokens = true;
        const auto p = tok.encode_pair(text, "and a second text", o);
        FUZZ_CHECK(p.ids.size() <= max_length && p.ids.size() == p.sequence_ids.size());
      }
      const auto e = tok.encode(text, {.max_length = refusal::kNoTruncation});
      const std::string back = tok.decode(e.ids, false);
      FUZZ_CHECK(!refusal::base::first_invalid_utf8(back));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fs::path dir = refusal::fuzz::scratch() / "tokenizer";
  static const bool made = fs::create_directories(dir);
  (void)made;
  if (size < 1) return 0;
  const std::uint8_t present = data[0];  // (FuzzedDataProvider takes integers from the end)
  FuzzedDataProvider in(data + 1, size - 1);
  const char* const names[] = {
      "tokenizer.json",         "vocab.json", "merges.txt", "vocab.txt", "tokenizer_config.json",
      "special_tokens_map.json"};
  const int file_bit[] = {0, 1, 1, 2, 3, 4};
  int last = -1;
  for (int i = 0; i < 6; ++i) {
    if (present & (1 << file_bit[i])) last = i;
  }
  for (int i = 0; i < 6; ++i) {
    const fs::path path = dir / names[i];
    if (!(present & (1 << file_bit[i]))) {
      fs::remove(path);
      continue;
    }
    const std::string text =
        i == last ? in.ConsumeRemainingBytesAsString() : in.ConsumeRandomLengthString();
    refusal::fuzz::write_file(path, text);
  }
  std::optional<refusal::Tokenizer> tok;
  try {
    tok = refusal::Tokenizer::from_model_folder(dir);
  } catch (const refusal::Error& e) {
    refusal::fuzz::refused(e);
    return 0;  // refused with a message: what bad files get
  }
  exercise(*tok);  // nothing here may throw for valid UTF-8: an escaping error is a finding
  return 0;
}
