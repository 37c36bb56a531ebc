#include "tokenizer/added_vocabulary.h"

#include <utf8proc.h>

#include <algorithm>

#include "base/utf8.h"
#include "tokenizer/unicode.h"

namespace refusal::tokenizer {
namespace {

// Code point that ends at byte `end` (> 0) and its start.
char32_t code_point_before(std::string_view s, size_t end, size_t* start) {
  *start = base::code_point_start(s, end - 1);
  size_t len = 0;
  return base::decode_valid_utf8(s.data() + *start, &len);
}

bool is_word_char(char32_t cp) {
  // Rust regex \w: alphanumerics, marks, connector punctuation, joiners.
  if (cp == 0x200C || cp == 0x200D) return true;
  const CharClass k = char_class(cp);
  if (k == CharClass::kLetter || k == CharClass::kNumber) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

}  // namespace

void AddedVocabulary::Trie::add(std::string_view s, int32_t token) {
  if (nodes.empty()) nodes.emplace_back();
  if (s.empty()) return;
  first[static_cast<unsigned char>(s[0])] = true;
  size_t node = 0;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    int32_t child = -1;
    for (const auto& [k, v] : nodes[node].children) {
      if (k == c) child = v;
    }
    if (child < 0) {
      child = static_cast<int32_t>(nodes.size());
      nodes[node].children.emplace_back(c, child);
      nodes.emplace_back();
    }
    node = static_cast<size_t>(child);
  }
  // The first token listed with a content keeps it, like HF's vocabulary map.
  if (nodes[node].token < 0) nodes[node].token = token;
}

int32_t AddedVocabulary::Trie::longest_at(std::string_view text, size_t pos, size_t limit,
                                          size_t* end) const {
  int32_t found = -1;
  size_t node = 0;
  for (size_t i = pos; i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    int32_t child = -1;
    for (const auto& [k, v] : nodes[node].children) {
      if (k == c) {
        child = v;
        break;
      }
    }
    if (child < 0) break;
    node = static_cast<size_t>(child);
    if (nodes[node].token >= 0) {
      found = nodes[node].token;
      *end = i + 1;
    }
  }
  return found;
}

AddedVocabulary::AddedVocabulary(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  raw_.nodes.emplace_back();
  normalized_.nodes.emplace_back();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    by_id_.emplace(t.id, i);
    by_content_.emplace(t.content, i);
    (t.normalized ? normalized_ : raw_).add(t.content, static_cast<int32_t>(i));
  }
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  const auto it = by_content_.find(std::string(content));
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

// HF's AddedVocabulary::find_matches over text[begin, end) (a "sentence" of its own).
void AddedVocabulary::find_matches(std::string_view text, size_t begin, size_t end,
                                   const Trie& trie, std::vector<Segment>& out) const {
  size_t done = begin;  // end of the previous match
  size_t pos = begin;
  while (pos < end) {
    if (!trie.first[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t stop = 0;
    const int32_t token = trie.longest_at(text, pos, end, &stop);
    if (token < 0) {
      ++pos;
      continue;
    }
    size_t start = pos;
    pos = stop;  // matches never overlap, whatever the rules below decide
    const AddedToken& t = tokens_[static_cast<size_t>(token)];
    if (t.single_word) {
      size_t unused = 0;
      const bool word_before =
          start > begin && is_word_char(code_point_before(text, start, &unused));
      size_t len = 0;
      const bool word_after =
          stop < end && is_word_char(base::decode_valid_utf8(text.data() + stop, &len));
      if (word_before || word_after) continue;
    }
    if (t.lstrip) {
      size_t s = start;
      while (s > begin) {
        size_t cstart = 0;
        if (char_class(code_point_before(text, s, &cstart)) != CharClass::kSpace) break;
        s = cstart;
      }
      start = std::max(s, done);
    }
    if (t.rstrip) {
      while (stop < end) {
        size_t len = 0;
        const char32_t cp = base::decode_valid_utf8(text.data() + stop, &len);
        if (char_class(cp) != CharClass::kSpace) break;
        stop += len;
      }
      pos = stop;
    }
    if (done < start) out.push_back({done, start, -1});
    out.push_back({start, stop, token});
    done = stop;
  }
  if (done < end) out.push_back({done, end, -1});
}

void AddedVocabulary::split(std::string_view text, std::vector<Segment>& out) const {
  out.clear();
  if (text.empty()) return;
  if (raw_.empty() && normalized_.empty()) {
    out.push_back({0, text.size(), -1});
    return;
  }
  if (raw_.empty()) {
    find_matches(text, 0, text.size(), normalized_, out);
    return;
  }
  thread_local std::vector<Segment> first;
  first.clear();
  find_matches(text, 0, text.size(), raw_, first);
  if (normalized_.empty()) {
    out = first;
    return;
  }
  for (const Segment& s : first) {
    if (s.token >= 0) {
      out.push_back(s);
    } else {
      find_matches(text, s.begin, s.end, normalized_, out);
    }
  }
}

}  // namespace refusal::tokenizer
