// libFuzzer target: any bytes through encode / encode_windows / encode_pair / decode, checking
// invariants that hold for every input (see docs/tokenizer.md for how to run it).
//
// Input layout: byte 0 = mode bits, byte 1 = length parameter, the rest = the text. Mode bit 64
// picks the BERT WordPiece tokenizer (all-MiniLM-L6-v2) instead of the byte-level BPE one.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>

#include "base/utf8.h"
#include "refusal/error.h"
#include "refusal/tokenizer.h"
#include "tokenizer/bpe.h"

namespace {

using refusal::Encoding;
using refusal::Tokenizer;

// Paths are relative to the repository root, where the fuzz test runs.
std::string tokenizer_path() {
  if (const char* env = std::getenv("REFUSAL_FUZZ_TOKENIZER")) return env;
  return "tests/data/tokenizer/protectai-distilroberta-base-rejection-v1/tokenizer.json";
}

std::string wordpiece_path() {
  if (const char* env = std::getenv("REFUSAL_FUZZ_WORDPIECE")) return env;
  return "tests/data/tokenizer/all-minilm-l6-v2/tokenizer.json";
}

struct Setup {
  Tokenizer tok;
  refusal::tokenizer::Bpe bpe;  // a second copy of the model, to compare the two merge paths
  Tokenizer wordpiece;
};

Setup* make_setup() {
  const std::string path = tokenizer_path();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr,
                 "fuzz_tokenizer: cannot open %s (run from the repository root, or set "
                 "REFUSAL_FUZZ_TOKENIZER)\n",
                 path.c_str());
    std::abort();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(ss.str());
  std::unordered_map<std::string, int32_t> vocab = j["model"]["vocab"];
  std::vector<std::pair<std::string, std::string>> merges;
  for (const auto& m : j["model"]["merges"]) {
    const std::string s = m.is_string() ? m.get<std::string>()
                                        : m[0].get<std::string>() + " " + m[1].get<std::string>();
    merges.emplace_back(s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1));
  }
  return new Setup{Tokenizer::from_tokenizer_json(path),
                   refusal::tokenizer::Bpe(vocab, merges, std::nullopt, path),
                   Tokenizer::from_tokenizer_json(wordpiece_path())};
}

void check(bool ok) {
  if (!ok) __builtin_trap();
}

void check_encoding(const Encoding& e, std::string_view text, size_t vocab_size) {
  check(e.ids.size() == e.offsets.size() && e.ids.size() == e.byte_offsets.size());
  check(e.tokens.empty() || e.tokens.size() == e.ids.size());
  const size_t chars = refusal::base::count_code_points(text);
  for (size_t i = 0; i < e.ids.size(); ++i) {
    check(e.ids[i] >= 0 && static_cast<size_t>(e.ids[i]) < vocab_size);
    check(e.byte_offsets[i].first <= e.byte_offsets[i].second);
    check(e.byte_offsets[i].second <= text.size());
    check(e.offsets[i].first <= e.offsets[i].second && e.offsets[i].second <= chars);
    // Offsets into the original text fall on character boundaries (also after lowercasing,
    // accent stripping and mark reordering, for WordPiece).
    const auto [b, end] = e.byte_offsets[i];
    check(b == text.size() || !refusal::base::is_utf8_continuation(text[b]));
    check(end == text.size() || !refusal::base::is_utf8_continuation(text[end]));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup* setup = make_setup();
  if (size < 2) return 0;
  const uint8_t mode = data[0];
  const bool wordpiece = mode & 64;
  const Tokenizer& tok = wordpiece ? setup->wordpiece : setup->tok;
  const size_t param = data[1];
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  const bool strict = mode & 1;
  const bool valid = !refusal::base::first_invalid_utf8(input);
  const std::string text = valid ? std::string(input) : refusal::base::repair_utf8(input);
  const size_t n_special = tok.num_special_tokens_to_add();
  refusal::EncodeOptions opts;
  opts.utf8_errors = strict ? refusal::Utf8Errors::kStrict : refusal::Utf8Errors::kReplace;
  opts.add_special_tokens = mode & 2;
  opts.max_length = (mode & 4) ? refusal::kNoTruncation : n_special + 1 + param;
  try {
    const Encoding e = tok.encode(input, opts);
    check(!strict || valid);
    check_encoding(e, text, tok.vocab_size());
    if (opts.max_length != refusal::kNoTruncation) check(e.ids.size() <= opts.max_length);
    if (!opts.add_special_tokens && !e.truncated && !wordpiece) {
      // Byte-level BPE loses nothing: decoding gives the text back unless an added token
      // swallowed whitespace (lstrip/rstrip) or stands for itself.
      bool plain = true;
      for (const auto& t : tok.added_tokens()) plain &= text.find(t.content) == std::string::npos;
      if (plain) check(tok.decode(e.ids, false) == text);
    }
    if (mode & 8) {
      const size_t max_length = n_special + 1 + param % 40;
      const size_t stride = (param / 40) % (max_length - n_special);
      const auto windows = tok.encode_windows(input, max_length, stride, opts);
      check(!windows.empty());
      for (const Encoding& w : windows) {
        check_encoding(w, text, tok.vocab_size());
        check(w.ids.size() <= max_length);
      }
      const Encoding first = tok.encode(input, {.max_length = max_length,
                                                .add_special_tokens = opts.add_special_tokens,
                                                .utf8_errors = opts.utf8_errors});
      check(first.ids == windows[0].ids && first.offsets == windows[0].offsets);
    }
    if (mode & 16) {
      // Split on a character boundary: strict mode would rightly refuse half a character.
      size_t half = input.size() / 2;
      while (half > 0 && refusal::base::is_utf8_continuation(input[half])) --half;
      refusal::EncodeOptions pair_opts = opts;
      if (opts.max_length != refusal::kNoTruncation) {
        pair_opts.max_length = tok.num_special_tokens_to_add(true) + param;
      }
      const Encoding p = tok.encode_pair(input.substr(0, half), input.substr(half), pair_opts);
      check(p.ids.size() == p.sequence_ids.size());
      if (opts.max_length != refusal::kNoTruncation) check(p.ids.size() <= pair_opts.max_length);
    }
    if (wordpiece && !opts.add_special_tokens) {
      // Decoding never fails and gives valid UTF-8 (WordPiece is lossy: no round trip).
      const std::string back = tok.decode(e.ids);
      check(!refusal::base::first_invalid_utf8(back));
    }
    if ((mode & 32) && !wordpiece) {
      // The O(n^2) scan and HF's heap must merge every word alike.
      const std::string_view word = std::string_view(text).substr(0, 200);
      std::vector<refusal::tokenizer::BpePiece> a, b;
      setup->bpe.tokenize_uncached(word, a, false);
      setup->bpe.tokenize_uncached(word, b, true);
      check(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) check(a[i].id == b[i].id && a[i].end == b[i].end);
    }
  } catch (const refusal::Error&) {
    // The only expected error: strict mode on invalid UTF-8.
    check(strict && !valid);
  }
  return 0;
}
