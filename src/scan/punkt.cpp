// A port of nltk.tokenize.punkt.PunktSentenceTokenizer.tokenize (nltk 3.9.1 and 3.10.x) with
// pre-trained parameters: the period-context regex, the per-candidate word tokenization and
// two annotation passes (abbreviations, ellipses, initials, numbers, collocations, orthographic
// and sentence-starter heuristics), then _slices_from_text and _realign_boundaries. The regular
// expressions are hand-compiled into scanners that follow Python's backtracking order.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/utf8.h"
#include "refusal/scanner_rules.h"
#include "scan/no_refusal.h"
#include "scan/py_unicode.h"
#include "scan/python_emulation.h"

namespace refusal {
namespace scan {
namespace {

// Orthographic context flags (punkt._ORTHO_*).
constexpr int kBegUc = 1 << 1;
constexpr int kMidUc = 1 << 2;
constexpr int kUnkUc = 1 << 3;
constexpr int kBegLc = 1 << 4;
constexpr int kMidLc = 1 << 5;
constexpr int kUnkLc = 1 << 6;
constexpr int kUc = kBegUc + kMidUc + kUnkUc;
constexpr int kLc = kBegLc + kMidLc + kUnkLc;

enum class Ortho { kFalse, kTrue, kUnknown };

bool is_curly(char32_t c) {
  return c == 0x2018 || c == 0x2019 || c == 0x201C || c == 0x201D || c == 0xAB || c == 0xBB;
}

struct Token {
  std::u32string tok;
  std::string type;  // lower-cased, numbers replaced by "##number##", UTF-8
  bool period_final = false;
  bool sentbreak = false;
  bool abbr = false;
  bool ellipsis = false;
};

struct Span {
  std::size_t start;
  std::size_t stop;
};

// One match of the period-context regex: the end character at `pos`, the text after it that
// the lookahead captured (`after_end`), and where next_tok starts (npos when the lookahead
// took the "other punctuation" branch).
struct EndContext {
  std::size_t pos;
  std::size_t after_end;
  std::size_t next_tok;
  std::u32string context;
};

class Punkt {
 public:
  Punkt(const PunktParameters& params, PunktVariant variant)
      : params_(params), regex_(variant == PunktVariant::kNltk310) {}

  std::vector<Span> span_tokenize(std::u32string_view text) const {
    return realign_boundaries(text, slices_from_text(text));
  }

 private:
  bool is_space(char32_t c) const { return re_space(c, regex_); }

  // _re_non_word_chars: [)";}\]*:@'({[?!] (+ curly quotes and guillemets in nltk 3.10).
  bool is_non_word(char32_t c) const {
    switch (c) {
      case U')':
      case U'"':
      case U';':
      case U'}':
      case U']':
      case U'*':
      case U':':
      case U'@':
      case U'\'':
      case U'(':
      case U'{':
      case U'[':
      case U'?':
      case U'!':
        return true;
      default:
        return regex_ && is_curly(c);
    }
  }

  // re_boundary_realignment's character class: ["')\]}] (+ curly quotes in nltk 3.10).
  bool is_closing(char32_t c) const {
    return c == U'"' || c == U'\'' || c == U')' || c == U']' || c == U'}' ||
           (regex_ && is_curly(c));
  }

  static bool is_word_start(char32_t c) {
    switch (c) {
      case U'(':
      case U'"':
      case U'`':
      case U'{':
      case U'[':
      case U':':
      case U';':
      case U'&':
      case U'#':
      case U'*':
      case U'@':
      case U')':
      case U'}':
      case U']':
      case U'-':
      case U',':
        return false;
      default:
        return true;
    }
  }

  // _re_multi_char_punct = (?:\-{2,}|\.{2,}|(?:\.\s){2,}\.) at s[p]; returns the length or 0.
  std::size_t multi_char(std::u32string_view s, std::size_t p) const {
    const std::size_t n = s.size();
    if (p >= n) return 0;
    if (s[p] == U'-' || s[p] == U'.') {
      std::size_t r = p;
      while (r < n && s[r] == s[p]) ++r;
      if (r - p >= 2) return r - p;
    }
    if (s[p] != U'.') return 0;
    std::size_t k = 0;
    while (p + 2 * k + 1 < n && s[p + 2 * k] == U'.' && is_space(s[p + 2 * k + 1])) ++k;
    if (k < 2) return 0;
    if (p + 2 * k < n && s[p + 2 * k] == U'.') return 2 * k + 1;
    return k >= 3 ? 2 * k - 1 : 0;  // backtrack one repetition: its '.' ends the match
  }

  // The lookahead that ends a word token at s[q].
  bool word_ends_at(std::u32string_view s, std::size_t q) const {
    const std::size_t n = s.size();
    if (q >= n || is_space(s[q]) || is_non_word(s[q]) || multi_char(s, q) > 0) return true;
    if (s[q] != U',') return false;
    return q + 1 >= n || is_space(s[q + 1]) || is_non_word(s[q + 1]) || multi_char(s, q + 1) > 0;
  }

  // PunktLanguageVars.word_tokenize: findall of the word-tokenizer regex.
  void word_tokenize(std::u32string_view s, std::vector<Token>& out) const {
    std::size_t p = 0;
    while (p < s.size()) {
      std::size_t len = multi_char(s, p);
      if (len == 0 && !is_space(s[p])) {
        if (is_word_start(s[p])) {
          std::size_t q = p + 1;  // \S+? : as few as possible, then the end lookahead
          while (!word_ends_at(s, q)) ++q;
          len = q - p;
        } else {
          len = 1;  // \S
        }
      }
      if (len == 0) {
        ++p;
        continue;
      }
      out.push_back(make_token(s.substr(p, len)));
      p += len;
    }
  }

  static bool is_number_type(std::u32string_view s) {
    // ^-?[\.,]?\d[\d,\.-]*\.?$
    std::size_t i = 0;
    if (i < s.size() && s[i] == U'-') ++i;
    if (i < s.size() && (s[i] == U'.' || s[i] == U',')) ++i;
    if (i >= s.size() || !is_decimal_digit(s[i])) return false;
    for (++i; i < s.size(); ++i) {
      const char32_t c = s[i];
      if (!(is_decimal_digit(c) || c == U',' || c == U'.' || c == U'-')) return false;
    }
    return true;
  }

  static Token make_token(std::u32string_view tok) {
    Token t;
    t.tok = std::u32string(tok);
    const std::u32string lower = py_lower(tok);
    t.type = is_number_type(lower) ? std::string("##number##") : base::to_utf8(lower);
    t.period_final = !tok.empty() && tok.back() == U'.';
    return t;
  }

  // PunktBaseClass._tokenize_words: lines split on "\n", blank lines skipped.
  std::vector<Token> tokenize_words(std::u32string_view text) const {
    std::vector<Token> tokens;
    std::size_t start = 0;
    while (true) {
      const std::size_t nl = text.find(U'\n', start);
      const std::u32string_view line =
          text.substr(start, nl == std::u32string_view::npos ? text.npos : nl - start);
      bool blank = true;
      for (char32_t c : line) blank = blank && py_isspace(c);
      if (!blank) word_tokenize(line, tokens);
      if (nl == std::u32string_view::npos) break;
      start = nl + 1;
    }
    return tokens;
  }

  static std::string_view type_no_period(const Token& t) {
    std::string_view type = t.type;
    // len(type) > 1 in code points: a final '.' after at least one more byte.
    if (type.size() > 1 && type.back() == '.') type.remove_suffix(1);
    return type;
  }

  static std::string_view type_no_sentperiod(const Token& t) {
    return t.sentbreak ? type_no_period(t) : std::string_view(t.type);
  }

  static bool is_ellipsis(const Token& t) {
    if (t.tok.size() < 2) return false;
    for (char32_t c : t.tok) {
      if (c != U'.') return false;
    }
    return true;
  }

  bool is_initial(const Token& t) const {
    return t.tok.size() == 2 && t.tok[1] == U'.' && re_word_nondigit(t.tok[0], regex_);
  }

  void first_pass(Token& t) const {
    const std::u32string& tok = t.tok;
    if (tok.size() == 1 && (tok[0] == U'.' || tok[0] == U'?' || tok[0] == U'!')) {
      t.sentbreak = true;
    } else if (is_ellipsis(t)) {
      t.ellipsis = true;
    } else if (t.period_final && !(tok.size() >= 2 && tok[tok.size() - 2] == U'.')) {
      const std::u32string_view stem = std::u32string_view(tok).substr(0, tok.size() - 1);
      const std::string base = refusal::base::to_utf8(py_lower(stem));
      const auto dash = base.rfind('-');
      const std::string last = dash == std::string::npos ? base : base.substr(dash + 1);
      if (params_.abbrev_types.count(base) || params_.abbrev_types.count(last)) {
        t.abbr = true;
      } else {
        t.sentbreak = true;
      }
    }
  }

  int ortho_context(std::string_view type) const {
    const auto it = params_.ortho_context.find(std::string(type));
    return it == params_.ortho_context.end() ? 0 : it->second;
  }

  Ortho ortho_heuristic(const Token& t) const {
    if (t.tok.size() == 1) {
      switch (t.tok[0]) {
        case U';':
        case U':':
        case U',':
        case U'.':
        case U'!':
        case U'?':
          return Ortho::kFalse;  // sentences don't start with punctuation
        default:
          break;
      }
    }
    const int ctx = ortho_context(type_no_sentperiod(t));
    const bool upper = py_isupper(t.tok[0]);
    if (upper && (ctx & kLc) && !(ctx & kMidUc)) return Ortho::kTrue;
    if (py_islower(t.tok[0]) && ((ctx & kUc) || !(ctx & kBegLc))) return Ortho::kFalse;
    return Ortho::kUnknown;
  }

  void second_pass(Token& t1, const Token& t2) const {
    if (!t1.period_final) return;
    const std::string_view typ = type_no_period(t1);
    const std::string_view next_typ = type_no_sentperiod(t2);
    const bool initial = is_initial(t1);

    std::string colloc(typ);
    colloc += '\t';
    colloc += next_typ;
    if (params_.collocations.count(colloc)) {
      t1.sentbreak = false;
      t1.abbr = true;
      return;
    }
    if ((t1.abbr || t1.ellipsis) && !initial) {
      if (ortho_heuristic(t2) == Ortho::kTrue) {
        t1.sentbreak = true;
        return;
      }
      if (py_isupper(t2.tok[0]) && params_.sent_starters.count(std::string(next_typ))) {
        t1.sentbreak = true;
        return;
      }
    }
    if (initial || typ == "##number##") {
      const Ortho h = ortho_heuristic(t2);
      if (h == Ortho::kFalse) {
        t1.sentbreak = false;
        t1.abbr = true;
        return;
      }
      if (h == Ortho::kUnknown && initial && py_isupper(t2.tok[0]) &&
          !(ortho_context(next_typ) & kLc)) {
        t1.sentbreak = false;
        t1.abbr = true;
      }
    }
  }

  // text_contains_sentbreak: a token other than the last is a sentence break.
  bool contains_sentbreak(std::u32string_view text) const {
    std::vector<Token> tokens = tokenize_words(text);
    for (Token& t : tokens) first_pass(t);
    for (std::size_t k = 0; k + 1 < tokens.size(); ++k) {
      second_pass(tokens[k], tokens[k + 1]);
      if (tokens[k].sentbreak) return true;
    }
    return false;
  }

  // period_context_re: [.?!](?=(?P<after_tok>NonWord|\s+(?P<next_tok>\S+)))
  bool period_context_at(std::u32string_view text, std::size_t i, EndContext& m) const {
    const char32_t c = text[i];
    if (c != U'.' && c != U'?' && c != U'!') return false;
    const std::size_t n = text.size();
    m.pos = i;
    if (i + 1 < n && is_non_word(text[i + 1])) {
      m.after_end = i + 2;
      m.next_tok = std::u32string_view::npos;
      return true;
    }
    std::size_t j = i + 1;
    while (j < n && is_space(text[j])) ++j;
    if (j == i + 1 || j == n) return false;
    std::size_t k = j;
    while (k < n && !is_space(text[k])) ++k;
    m.after_end = k;
    m.next_tok = j;
    return true;
  }

  std::vector<EndContext> match_potential_end_contexts(std::u32string_view text) const {
    std::vector<EndContext> out;
    Span prev_slice{0, 0};
    bool have_prev = false;
    EndContext prev{};
    auto emit = [&](EndContext& m, Span word) {
      m.context = std::u32string(text.substr(word.start, word.stop - word.start));
      m.context += text.substr(m.pos, m.after_end - m.pos);
      out.push_back(std::move(m));
    };
    EndContext m{};
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (!period_context_at(text, i, m)) continue;
      // _get_last_whitespace_index over text[prev_slice.stop:i] (string.whitespace only);
      // an index of 0 counts as "none", as in nltk.
      std::size_t idx = 0;
      for (std::size_t j = i; j > prev_slice.stop; --j) {
        const char32_t c = text[j - 1];
        if (c == U' ' || c == U'\t' || c == U'\n' || c == U'\r' || c == 0x0B || c == 0x0C) {
          idx = j - 1 - prev_slice.stop;
          break;
        }
      }
      const std::size_t start = idx ? idx + prev_slice.stop + 1 : prev_slice.start;
      const Span word{start, i};
      if (have_prev && prev_slice.stop <= word.start) emit(prev, prev_slice);
      prev = m;
      prev_slice = word;
      have_prev = true;
    }
    if (have_prev) emit(prev, prev_slice);
    return out;
  }

  std::vector<Span> slices_from_text(std::u32string_view text) const {
    std::vector<Span> slices;
    std::size_t last_break = 0;
    for (const EndContext& m : match_potential_end_contexts(text)) {
      if (!contains_sentbreak(m.context)) continue;
      slices.push_back({last_break, m.pos + 1});
      last_break = m.next_tok != std::u32string_view::npos ? m.next_tok : m.pos + 1;
    }
    std::size_t end = text.size();
    while (end > 0 && py_isspace(text[end - 1])) --end;
    slices.push_back({last_break, end});
    return slices;
  }

  // re_boundary_realignment.match(text[s]): ["')\]}]+?(?:\s+|(?=--)|$), MULTILINE. Returns
  // the match length, or npos.
  std::size_t realignment_match(std::u32string_view s) const {
    const std::size_t n = s.size();
    for (std::size_t q = 1; q <= n && is_closing(s[q - 1]); ++q) {
      if (q < n && is_space(s[q])) {
        std::size_t e = q;
        while (e < n && is_space(s[e])) ++e;
        return e;
      }
      if (q + 1 < n && s[q] == U'-' && s[q + 1] == U'-') return q;
      if (q == n || s[q] == U'\n') return q;
    }
    return std::u32string_view::npos;
  }

  std::vector<Span> realign_boundaries(std::u32string_view text,
                                       const std::vector<Span>& slices) const {
    std::vector<Span> out;
    std::size_t realign = 0;
    for (std::size_t i = 0; i < slices.size(); ++i) {
      const Span s1{slices[i].start + realign, slices[i].stop};
      if (i + 1 == slices.size()) {
        if (s1.start < s1.stop) out.push_back(s1);
        continue;
      }
      const Span s2 = slices[i + 1];
      const std::u32string_view sentence2 =
          s2.start < s2.stop ? text.substr(s2.start, s2.stop - s2.start) : std::u32string_view();
      const std::size_t m = realignment_match(sentence2);
      if (m != std::u32string_view::npos) {
        std::size_t kept = m;  // len(m.group(0).rstrip())
        while (kept > 0 && py_isspace(sentence2[kept - 1])) --kept;
        out.push_back({s1.start, s2.start + kept});  // yielded even when empty, as in nltk
        realign = m;
      } else {
        realign = 0;
        if (s1.start < s1.stop) out.push_back(s1);
      }
    }
    return out;
  }

  const PunktParameters& params_;
  bool regex_;
};

}  // namespace
}  // namespace scan

std::vector<Sentence> split_sentences(std::string_view text, const PunktParameters& params,
                                      PunktVariant variant) {
  std::vector<std::size_t> bytes;
  const std::u32string all = base::to_code_points(text, &bytes);
  std::size_t lead = 0;
  std::size_t end = all.size();
  while (lead < end && scan::py_isspace(all[lead])) ++lead;
  while (end > lead && scan::py_isspace(all[end - 1])) --end;
  const std::u32string_view stripped = std::u32string_view(all).substr(lead, end - lead);

  std::vector<Sentence> out;
  for (const auto& span : scan::Punkt(params, variant).span_tokenize(stripped)) {
    Sentence s;
    s.char_begin = lead + span.start;
    s.char_end = lead + span.stop;
    s.byte_begin = bytes[s.char_begin];
    s.byte_end = bytes[s.char_end];
    s.text = std::string(text.substr(s.byte_begin, s.byte_end - s.byte_begin));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<Sentence> no_refusal_inputs(std::string_view output, MatchMode match,
                                        const PunktParameters& params, PunktVariant variant) {
  if (python_isspace_only(output)) return {};
  if (match == MatchMode::kSentence) return split_sentences(output, params, variant);
  Sentence whole;
  whole.text = std::string(output);
  whole.char_end = base::to_code_points(output).size();
  whole.byte_end = output.size();
  return {std::move(whole)};
}

}  // namespace refusal
