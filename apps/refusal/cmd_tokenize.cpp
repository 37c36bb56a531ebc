// `refusal tokenize`: texts in (JSONL or plain lines, files or stdin), one JSONL line of ids,
// tokens and offsets out per text, in input order, exactly as Hugging Face tokenizers gives.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "commands.h"
#include "refusal/error.h"
#include "refusal/tokenizer.h"

namespace refusal::app {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string tokenizer_file;
  std::optional<size_t> max_length;
  bool no_truncation = false;
  bool no_special = false;
  bool windows = false;
  size_t stride = 0;
  bool lines = false;
  std::string field = "text";
  bool strict_utf8 = false;
  bool byte_offsets = false;
  std::vector<std::string> files;
};

nlohmann::json encoding_json(const Encoding& e, bool byte_offsets) {
  nlohmann::json j = {{"ids", e.ids}, {"tokens", e.tokens}};
  nlohmann::json offsets = nlohmann::json::array();
  for (const auto& [a, b] : e.offsets) offsets.push_back({a, b});
  j["offsets"] = std::move(offsets);
  if (byte_offsets) {
    nlohmann::json bytes = nlohmann::json::array();
    for (const auto& [a, b] : e.byte_offsets) bytes.push_back({a, b});
    j["byte_offsets"] = std::move(bytes);
  }
  return j;
}

class Run {
 public:
  explicit Run(const TokenizeOptions& o)
      : o_(o),
        tok_(o.tokenizer_file.empty() ? Tokenizer::from_model_folder(o.model)
                                      : Tokenizer::from_tokenizer_json(o.tokenizer_file)) {
    opts_.add_special_tokens = !o.no_special;
    opts_.utf8_errors = o.strict_utf8 ? Utf8Errors::kStrict : Utf8Errors::kReplace;
    max_length_ = o.max_length.value_or(tok_.model_max_length());
    opts_.max_length = o.no_truncation ? kNoTruncation : max_length_;
  }

  void stream(std::istream& in, const std::string& name) {
    std::string line;
    for (size_t line_no = 1; std::getline(in, line); ++line_no) {
      const std::string where = name + ":" + std::to_string(line_no);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (o_.lines) {
        emit(line, where);
        continue;
      }
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      emit(text_of(line, where), where);
    }
    if (in.bad()) throw Error(name + ": read error");
  }

 private:
  std::string text_of(const std::string& line, const std::string& where) const {
    const std::optional<size_t> bad = base::first_invalid_utf8(line);
    if (bad && o_.strict_utf8) {
      throw Error(where + ": invalid UTF-8 at byte offset " + std::to_string(*bad));
    }
    nlohmann::json j;
    try {
      // Bad bytes become U+FFFD first, as Python reading the file with errors="replace".
      j = nlohmann::json::parse(bad ? base::repair_utf8(line) : line);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(where + ": invalid JSON at byte " + std::to_string(e.byte) + " (" + e.what() +
                  ")");
    } catch (const nlohmann::json::exception& e) {  // a number beyond a double: 1e400
      throw Error(where + ": invalid JSON (" + std::string(e.what()) + ")");
    }
    if (!j.is_object() || !j.contains(o_.field) || !j[o_.field].is_string()) {
      throw Error(where + ": no string field \"" + o_.field + "\"");
    }
    return j[o_.field].get<std::string>();
  }

  void emit(const std::string& text, const std::string& where) {
    try {
      if (o_.windows) {
        nlohmann::json ws = nlohmann::json::array();
        for (const Encoding& e : tok_.encode_windows(text, max_length_, o_.stride, opts_)) {
          ws.push_back(encoding_json(e, o_.byte_offsets));
        }
        write(nlohmann::json{{"windows", std::move(ws)}});
      } else {
        write(encoding_json(tok_.encode(text, opts_), o_.byte_offsets));
      }
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
  }

  void write(const nlohmann::json& j) {
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }

  const TokenizeOptions& o_;
  Tokenizer tok_;
  EncodeOptions opts_;
  size_t max_length_ = 0;
};

int run_tokenize(const TokenizeOptions& o) {
  if (o.model.empty() == o.tokenizer_file.empty()) {
    throw Error("tokenize: give either --model DIR or --tokenizer FILE");
  }
  std::ios::sync_with_stdio(false);
  Run run(o);
  if (o.files.empty()) {
    run.stream(std::cin, "<stdin>");
  } else {
    for (const std::string& f : o.files) {
      if (f == "-") {
        run.stream(std::cin, "<stdin>");
        continue;
      }
      std::ifstream in(f, std::ios::binary);
      if (!in) throw Error(f + ": cannot open file");
      run.stream(in, f);
    }
  }
  std::cout.flush();
  return 0;
}

}  // namespace

Command add_tokenize_command(CLI::App& app) {
  auto o = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand(
      "tokenize",
      "Tokenize texts like Hugging Face tokenizers (byte-level BPE for RoBERTa, WordPiece for "
      "BERT): one JSONL line of ids, tokens and (code point) offsets per input text");
  auto* model = sub->add_option(
      "--model", o->model,
      "Model folder (tokenizer.json, or vocab.json + merges.txt, or BERT's vocab.txt)");
  auto* file = sub->add_option("--tokenizer", o->tokenizer_file, "A tokenizer.json file");
  model->excludes(file);
  sub->add_option("--max-length", o->max_length,
                  "Most tokens per text, specials included (default: model_max_length, 512)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--no-truncation", o->no_truncation, "Keep every token");
  sub->add_flag("--no-special", o->no_special, "Leave out <s> </s> ([CLS] [SEP] for BERT)");
  auto* windows = sub->add_flag(
      "--windows", o->windows,
      "Cover long texts with windows of --max-length tokens: {\"windows\": [...]} per text");
  sub->add_option("--stride", o->stride, "Tokens shared by consecutive windows")->needs(windows);
  sub->add_flag("--lines", o->lines, "Inputs are plain text lines, not JSONL");
  sub->add_option("--field", o->field, "JSONL field that holds the text")->capture_default_str();
  sub->add_flag("--strict-utf8", o->strict_utf8,
                "Fail on invalid UTF-8 (default: replace by U+FFFD like Python)");
  sub->add_flag("--byte-offsets", o->byte_offsets, "Also write UTF-8 byte offsets");
  sub->add_option("files", o->files, "Input files (default or '-': standard input)");
  return [o]() -> int { return run_tokenize(*o); };
}

}  // namespace refusal::app
