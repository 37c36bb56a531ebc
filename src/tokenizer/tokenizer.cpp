// Tokenizer: the HF encode pipeline (added tokens, ByteLevel pre-tokenizer, BPE,
// RobertaProcessing with trimmed offsets, truncation and overflow windows) and decoding.
#include "refusal/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "base/utf8.h"
#include "refusal/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace refusal {

using tokenizer::BpePiece;
using tokenizer::Model;
using tokenizer::Segment;

namespace {

// A content token before the post-processor: ids and untrimmed byte offsets.
struct RawToken {
  int32_t id;
  uint32_t start;  // whole code points: a token holding part of a character spans all of it
  uint32_t end;
  uint32_t lead;  // bytes of leading / trailing whitespace that trim_offsets removes
  uint32_t trail;
  bool added;  // an added token: its text is text[start, end)
};

// The text encode() works on: the input, or its U+FFFD-repaired copy.
struct CheckedText {
  std::string repaired;
  std::string_view text;
  bool ascii = true;
};

bool is_ascii(std::string_view s) {
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (w & 0x8080808080808080ull) return false;
  }
  for (; i < s.size(); ++i) {
    if (static_cast<unsigned char>(s[i]) >= 0x80) return false;
  }
  return true;
}

void check_utf8(std::string_view in, Utf8Errors mode, CheckedText& out) {
  out.text = in;
  out.ascii = is_ascii(in);
  if (out.ascii) return;
  const std::optional<size_t> bad = base::first_invalid_utf8(in);
  if (!bad) return;
  if (mode == Utf8Errors::kStrict) {
    throw Error("invalid UTF-8 at byte offset " + std::to_string(*bad) + " (byte 0x" +
                "0123456789ABCDEF"[static_cast<unsigned char>(in[*bad]) >> 4] +
                "0123456789ABCDEF"[static_cast<unsigned char>(in[*bad]) & 15] + ")");
  }
  out.repaired = base::repair_utf8(in);
  out.text = out.repaired;
}

// Byte offset -> code point index, for offsets that mostly come in increasing order.
class CharCounter {
 public:
  CharCounter(std::string_view s, bool ascii) : s_(s), ascii_(ascii) {}
  size_t operator()(size_t p) {
    if (ascii_) return p;
    for (; byte_ < p; ++byte_) chars_ += !base::is_utf8_continuation(s_[byte_]);
    for (; byte_ > p; --byte_) chars_ -= !base::is_utf8_continuation(s_[byte_ - 1]);
    return chars_;
  }

 private:
  std::string_view s_;
  bool ascii_;
  size_t byte_ = 0;
  size_t chars_ = 0;
};

// Leading / trailing whitespace bytes of an added token's text ("Ġ" counts one byte).
void whitespace_ends(std::string_view s, uint32_t* lead, uint32_t* trail) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    const char32_t cp = base::decode_valid_utf8(s.data() + i, &len);
    if (cp != 0x120 && tokenizer::char_class(cp) != tokenizer::CharClass::kSpace) break;
    *lead += cp == 0x120 ? 1 : static_cast<uint32_t>(len);
    i += len;
  }
  size_t j = s.size();
  while (j > 0) {
    const size_t start = base::code_point_start(s, j - 1);
    size_t len = 0;
    const char32_t cp = base::decode_valid_utf8(s.data() + start, &len);
    if (cp != 0x120 && tokenizer::char_class(cp) != tokenizer::CharClass::kSpace) break;
    *trail += cp == 0x120 ? 1 : static_cast<uint32_t>(len);
    j = start;
  }
}

RawToken added_token(const Model& m, std::string_view text, const Segment& seg) {
  RawToken r{m.added.tokens()[static_cast<size_t>(seg.token)].id,
             static_cast<uint32_t>(seg.begin),
             static_cast<uint32_t>(seg.end),
             0,
             0,
             true};
  whitespace_ends(text.substr(seg.begin, seg.end - seg.begin), &r.lead, &r.trail);
  return r;
}

// BERT: BertNormalizer, then BertPreTokenizer (whitespace splits and is dropped, each
// punctuation char is a word), then WordPiece; offsets go back to the original bytes.
void tokenize_wordpiece(const Model& m, std::string_view text, size_t limit,
                        std::vector<RawToken>& out) {
  thread_local std::vector<Segment> segments;
  thread_local tokenizer::NormalizedText norm;
  thread_local std::vector<tokenizer::WordPieceToken> pieces;
  m.added.split(text, segments);
  for (const Segment& seg : segments) {
    if (out.size() > limit) break;
    if (seg.token >= 0) {
      out.push_back(added_token(m, text, seg));
      continue;
    }
    if (m.normalizer) {
      tokenizer::bert_normalize(*m.normalizer, text, seg.begin, seg.end, norm);
    } else {
      tokenizer::bert_normalize({false, false, false, false}, text, seg.begin, seg.end, norm);
    }
    const std::u32string& c = norm.chars;
    auto emit = [&](size_t wb, size_t we) {
      pieces.clear();
      m.wordpiece.tokenize(std::u32string_view(c).substr(wb, we - wb), pieces);
      for (const tokenizer::WordPieceToken& p : pieces) {
        out.push_back({p.id, norm.start[wb + p.begin], norm.end[wb + p.end - 1], 0, 0, false});
      }
    };
    size_t word = 0;
    for (size_t i = 0; i < c.size() && out.size() <= limit; ++i) {
      const tokenizer::BertClass k = tokenizer::bert_class(c[i]);
      if (k == tokenizer::BertClass::kOther) continue;
      if (word < i) emit(word, i);
      if (k == tokenizer::BertClass::kPunctuation) emit(i, i + 1);
      word = i + 1;
    }
    if (word < c.size() && out.size() <= limit) emit(word, c.size());
  }
}

// Content tokens of `text`; stops once more than `limit` are found (truncation needs no more).
void tokenize_into(const Model& m, std::string_view text, size_t limit,
                   std::vector<RawToken>& out) {
  if (text.size() >= UINT32_MAX) throw Error("text too long to tokenize (4 GiB or more)");
  if (m.type == tokenizer::ModelType::kWordPiece) return tokenize_wordpiece(m, text, limit, out);
  thread_local std::vector<Segment> segments;
  thread_local std::vector<BpePiece> pieces;
  m.added.split(text, segments);
  const char* s = text.data();
  for (const Segment& seg : segments) {
    if (out.size() > limit) break;
    if (seg.token >= 0) {
      out.push_back(added_token(m, text, seg));
      continue;
    }
    tokenizer::split_words(s, seg.begin, seg.end, [&](size_t pb, size_t pe) {
      pieces.clear();
      m.bpe.tokenize(text.substr(pb, pe - pb), pieces);
      for (const BpePiece& p : pieces) {
        const size_t b = pb + p.start, e = pb + p.end;
        size_t start = b, end = e;
        while (start > pb && base::is_utf8_continuation(s[start])) --start;
        while (end < pe && base::is_utf8_continuation(s[end])) ++end;
        // Only "Ġ" (a space byte) is whitespace in the byte-level alphabet.
        uint32_t lead = 0, trail = 0;
        while (b + lead < e && s[b + lead] == ' ') ++lead;
        while (e - trail > b && s[e - trail - 1] == ' ') ++trail;
        out.push_back(
            {p.id, static_cast<uint32_t>(start), static_cast<uint32_t>(end), lead, trail, false});
      }
      return out.size() <= limit;
    });
  }
}

void add_special(Encoding& enc, const tokenizer::TemplatePiece& p, bool with_tokens) {
  enc.ids.push_back(p.id);
  if (with_tokens) enc.tokens.push_back(p.token);
  enc.offsets.emplace_back(0, 0);
  enc.byte_offsets.emplace_back(0, 0);
  enc.special_tokens_mask.push_back(1);
  enc.sequence_ids.push_back(-1);
  enc.type_ids.push_back(p.type_id);
}

// Appends tokens[0, n) of one text, with the post-processor's offset trimming.
void add_content(const Model& m, Encoding& enc, std::string_view text, bool ascii,
                 const RawToken* tokens, size_t n, int8_t sequence, uint8_t type_id,
                 bool with_tokens) {
  CharCounter chars(text, ascii);
  for (size_t i = 0; i < n; ++i) {
    const RawToken& t = tokens[i];
    size_t start = t.start, end = t.end;
    if (m.post.trim_offsets) {
      size_t lead = t.lead;
      if (m.post.add_prefix_space && lead == 1 && (i == 0 || start == 0)) lead = 0;
      if (lead > 0) start = std::min(start + lead, end);
      if (t.trail > 0 && end >= t.trail) end = std::max(end - t.trail, start);
    }
    enc.ids.push_back(t.id);
    if (with_tokens) {
      if (t.added) {
        enc.tokens.emplace_back(text.substr(t.start, t.end - t.start));
      } else {
        enc.tokens.push_back(m.id_to_token[static_cast<size_t>(t.id)]);
      }
    }
    const size_t cs = chars(start);
    enc.offsets.emplace_back(cs, chars(end));
    enc.byte_offsets.emplace_back(start, end);
    enc.special_tokens_mask.push_back(0);
    enc.sequence_ids.push_back(sequence);
    enc.type_ids.push_back(type_id);
  }
}

// One or two texts' tokens, in the post-processor's template.
struct Part {
  std::string_view text;
  bool ascii;
  const RawToken* tokens;
  size_t n;
};

Encoding build(const Model& m, const Part& a, const Part* b, const EncodeOptions& opts) {
  Encoding enc;
  const auto& tpl = b != nullptr ? m.post.pair : m.post.single;
  const bool specials = opts.add_special_tokens && !tpl.empty();
  const size_t total = a.n + (b != nullptr ? b->n : 0) + (specials ? tpl.size() : 0);
  enc.ids.reserve(total);
  enc.offsets.reserve(total);
  enc.byte_offsets.reserve(total);
  enc.type_ids.reserve(total);
  if (opts.with_tokens) enc.tokens.reserve(total);
  auto content = [&](const Part& p, int8_t sequence, uint8_t type_id) {
    if (m.post.zero_type_ids) type_id = 0;
    add_content(m, enc, p.text, p.ascii, p.tokens, p.n, sequence, type_id, opts.with_tokens);
  };
  if (!specials) {
    // HF's default: the second text has type id 1.
    content(a, 0, 0);
    if (b != nullptr) content(*b, 1, 1);
    return enc;
  }
  for (const tokenizer::TemplatePiece& p : tpl) {
    if (p.sequence < 0) {
      add_special(enc, p, opts.with_tokens);
    } else {
      content(p.sequence == 0 ? a : *b, p.sequence, p.type_id);
    }
  }
  return enc;
}

Encoding build_single(const Model& m, const CheckedText& ct, const RawToken* tokens, size_t n,
                      const EncodeOptions& opts) {
  return build(m, {ct.text, ct.ascii, tokens, n}, nullptr, opts);
}

size_t content_budget(const Model& m, size_t max_length, bool add_special, bool pair) {
  const size_t n_add = add_special ? m.post.added(pair) : 0;
  if (max_length < n_add) {
    throw Error("max_length " + std::to_string(max_length) + " leaves no room for the " +
                std::to_string(n_add) + " special tokens");
  }
  return max_length - n_add;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
}

// HF's WordPiece decoder: a token after the first loses its prefix ("##ing") or gets a space
// before it; cleanup then runs on each token alone, as HF does (so " do not" never matches).
void append_wordpiece(std::string& out, std::string_view token, bool first,
                      const std::string& prefix, bool cleanup) {
  std::string t;
  if (first) {
    t = token;
  } else if (token.starts_with(prefix)) {
    t = token.substr(prefix.size());
  } else {
    t = " ";
    t += token;
  }
  if (cleanup) {
    static constexpr std::pair<std::string_view, std::string_view> kCleanup[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kCleanup) replace_all(t, from, to);
  }
  out += t;
}

}  // namespace

Tokenizer::Tokenizer(std::shared_ptr<const tokenizer::Model> model) : model_(std::move(model)) {}

Tokenizer Tokenizer::from_tokenizer_json(const std::filesystem::path& path) {
  const std::string origin = path.string();
  return Tokenizer(std::make_shared<const Model>(
      tokenizer::spec_from_tokenizer_json(tokenizer::read_file(origin), origin)));
}

Tokenizer Tokenizer::from_tokenizer_json_string(std::string_view json, std::string_view origin) {
  return Tokenizer(std::make_shared<const Model>(
      tokenizer::spec_from_tokenizer_json(json, std::string(origin))));
}

Tokenizer Tokenizer::from_vocab_merges(
    const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
    const std::optional<std::filesystem::path>& tokenizer_config_json,
    const std::optional<std::filesystem::path>& special_tokens_map_json) {
  tokenizer::ModelSpec spec =
      tokenizer::spec_from_vocab_merges(vocab_json.string(), merges_txt.string());
  if (tokenizer_config_json) {
    tokenizer::apply_tokenizer_config(spec, tokenizer_config_json->string(), true);
  }
  if (special_tokens_map_json) {
    tokenizer::apply_special_tokens_map(spec, special_tokens_map_json->string());
  }
  return Tokenizer(std::make_shared<const Model>(std::move(spec)));
}

TokenizerFiles find_tokenizer_files(const std::filesystem::path& folder) {
  const auto existing = [&](const char* name) -> std::optional<std::filesystem::path> {
    std::error_code ec;
    if (std::filesystem::is_regular_file(folder / name, ec)) return folder / name;
    return std::nullopt;
  };
  return {.folder = folder,
          .tokenizer_json = existing("tokenizer.json"),
          .vocab_json = existing("vocab.json"),
          .merges_txt = existing("merges.txt"),
          .vocab_txt = existing("vocab.txt"),
          .tokenizer_config = existing("tokenizer_config.json"),
          .special_tokens_map = existing("special_tokens_map.json")};
}

Tokenizer Tokenizer::from_model_folder(const std::filesystem::path& folder) {
  if (!std::filesystem::is_directory(folder)) throw Error(folder.string() + ": not a folder");
  return from_files(find_tokenizer_files(folder));
}

Tokenizer Tokenizer::from_files(const TokenizerFiles& f) {
  if (f.tokenizer_json) {
    const std::string origin = f.tokenizer_json->string();
    tokenizer::ModelSpec spec =
        tokenizer::spec_from_tokenizer_json(tokenizer::read_file(origin), origin);
    // tokenizer.json holds the pipeline; the config adds model_max_length and the pad token.
    if (f.tokenizer_config) {
      tokenizer::apply_tokenizer_config(spec, f.tokenizer_config->string(), false);
    }
    return Tokenizer(std::make_shared<const Model>(std::move(spec)));
  }
  if (f.vocab_json && f.merges_txt) {
    return from_vocab_merges(*f.vocab_json, *f.merges_txt, f.tokenizer_config,
                             f.special_tokens_map);
  }
  if (f.vocab_txt) {
    // BERT: vocab.txt + tokenizer_config.json (do_lower_case, strip_accents, ...).
    const auto config =
        f.tokenizer_config ? std::optional(f.tokenizer_config->string()) : std::nullopt;
    tokenizer::ModelSpec spec = tokenizer::spec_from_vocab_txt(f.vocab_txt->string(), config);
    if (f.special_tokens_map) {
      tokenizer::apply_special_tokens_map(spec, f.special_tokens_map->string());
    }
    return Tokenizer(std::make_shared<const Model>(std::move(spec)));
  }
  throw Error(f.folder.string() +
              ": no tokenizer.json, nor vocab.json + merges.txt, nor vocab.txt");
}

Encoding Tokenizer::encode(std::string_view utf8, const EncodeOptions& options) const {
  const Model& m = *model_;
  CheckedText ct;
  check_utf8(utf8, options.utf8_errors, ct);
  const size_t max_length = options.max_length == 0 ? m.model_max_length : options.max_length;
  size_t limit = kNoTruncation;
  if (max_length != kNoTruncation) {
    limit = content_budget(m, max_length, options.add_special_tokens, false);
  }
  thread_local std::vector<RawToken> raw;
  raw.clear();
  tokenize_into(m, ct.text, limit, raw);
  const bool truncated = raw.size() > limit;
  Encoding enc = build_single(m, ct, raw.data(), truncated ? limit : raw.size(), options);
  enc.truncated = truncated;
  return enc;
}

std::vector<Encoding> Tokenizer::encode_windows(std::string_view utf8, size_t max_length,
                                                size_t stride, const EncodeOptions& options) const {
  const Model& m = *model_;
  CheckedText ct;
  check_utf8(utf8, options.utf8_errors, ct);
  const size_t budget = content_budget(m, max_length, options.add_special_tokens, false);
  std::vector<RawToken> raw;
  tokenize_into(m, ct.text, kNoTruncation, raw);
  std::vector<Encoding> windows;
  const size_t n = raw.size();
  if (budget == 0) {
    // HF's truncate(0): an empty encoding whose overflow is the whole text.
    windows.push_back(build_single(m, ct, raw.data(), 0, options));
    windows.push_back(build_single(m, ct, raw.data(), n, options));
  } else if (n <= budget) {
    windows.push_back(build_single(m, ct, raw.data(), n, options));
  } else {
    if (stride >= budget) {
      throw Error("stride " + std::to_string(stride) + " must be smaller than max_length " +
                  std::to_string(max_length) + " minus the special tokens (" +
                  std::to_string(budget) + ")");
    }
    for (size_t start = 0;; start += budget - stride) {
      const size_t stop = std::min(start + budget, n);
      windows.push_back(build_single(m, ct, raw.data() + start, stop - start, options));
      if (stop == n) break;
    }
  }
  for (Encoding& w : windows) w.truncated = windows.size() > 1;
  return windows;
}

Encoding Tokenizer::encode_pair(std::string_view first, std::string_view second,
                                const EncodeOptions& options) const {
  const Model& m = *model_;
  CheckedText ca, cb;
  check_utf8(first, options.utf8_errors, ca);
  check_utf8(second, options.utf8_errors, cb);
  const size_t max_length = options.max_length == 0 ? m.model_max_length : options.max_length;
  size_t limit = kNoTruncation;
  if (max_length != kNoTruncation) {
    limit = content_budget(m, max_length, options.add_special_tokens, true);
  }
  std::vector<RawToken> a, b;
  tokenize_into(m, ca.text, limit, a);
  tokenize_into(m, cb.text, limit, b);
  size_t na = a.size(), nb = b.size();
  bool truncated = false;
  if (limit != kNoTruncation && na + nb > limit) {
    // HF's longest_first: drop one token at a time from the longer text (the second on ties).
    truncated = true;
    size_t excess = na + nb - limit;
    size_t& longer = na > nb ? na : nb;
    const size_t d = std::min(excess, na > nb ? na - nb : nb - na);
    longer -= d;
    excess -= d;
    nb -= (excess + 1) / 2;
    na -= excess / 2;
  }
  const Part pb{cb.text, cb.ascii, b.data(), nb};
  Encoding enc = build(m, {ca.text, ca.ascii, a.data(), na}, &pb, options);
  enc.truncated = truncated;
  return enc;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const Model& m = *model_;
  const auto& alphabet = tokenizer::byte_alphabet();
  std::string bytes;
  bool first = true;
  for (const int32_t id : ids) {
    std::string_view token;
    if (const AddedToken* t = m.added.by_id(id)) {
      if (skip_special_tokens && t->special) continue;
      token = t->content;
    } else if (id >= 0 && static_cast<size_t>(id) < m.id_to_token.size() &&
               !m.id_to_token[static_cast<size_t>(id)].empty()) {
      token = m.id_to_token[static_cast<size_t>(id)];
    } else {
      continue;  // HF skips ids it does not know
    }
    if (m.decoder == tokenizer::DecoderType::kWordPiece) {
      append_wordpiece(bytes, token, first, m.decoder_prefix, m.decoder_cleanup);
      first = false;
      continue;
    }
    if (m.decoder == tokenizer::DecoderType::kNone) {
      // No decoder: HF joins the tokens with spaces.
      if (!first) bytes += ' ';
      bytes += token;
      first = false;
      continue;
    }
    // A token made only of byte-level characters gives its bytes; any other, its own text.
    const size_t mark = bytes.size();
    bool all_bytes = true;
    for (size_t i = 0; i < token.size();) {
      size_t len = 0;
      const char32_t cp = base::decode_valid_utf8(token.data() + i, &len);
      if (cp >= alphabet.cp_to_byte.size() || alphabet.cp_to_byte[cp] < 0) {
        all_bytes = false;
        break;
      }
      bytes.push_back(static_cast<char>(alphabet.cp_to_byte[cp]));
      i += len;
    }
    if (!all_bytes) {
      bytes.resize(mark);
      bytes += token;
    }
  }
  if (!base::first_invalid_utf8(bytes)) return bytes;
  return base::repair_utf8(bytes);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = model_->added.by_content(token)) return t->id;
  const auto it = model_->vocab.find(std::string(token));
  if (it == model_->vocab.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* t = model_->added.by_id(id)) return t->content;
  if (id < 0 || static_cast<size_t>(id) >= model_->id_to_token.size()) return std::nullopt;
  const std::string& s = model_->id_to_token[static_cast<size_t>(id)];
  if (s.empty()) return std::nullopt;
  return s;
}

size_t Tokenizer::vocab_size() const {
  size_t n = model_->id_to_token.size();
  for (const AddedToken& t : model_->added.tokens()) {
    n = std::max(n, static_cast<size_t>(t.id) + 1);
  }
  return n;
}

size_t Tokenizer::model_max_length() const { return model_->model_max_length; }
size_t Tokenizer::num_special_tokens_to_add(bool pair) const { return model_->post.added(pair); }
std::optional<int32_t> Tokenizer::pad_token_id() const { return model_->pad_id; }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return model_->added.tokens(); }
size_t Tokenizer::cache_size() const { return model_->bpe.cache().size(); }
void Tokenizer::clear_cache() const { model_->bpe.cache().clear(); }

}  // namespace refusal
