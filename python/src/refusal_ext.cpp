// refusal._refusal: the C++ engine for Python (nanobind). The pure-Python package
// (python/refusal/) wraps this module; nothing here is public API on its own.
//
// - Every call into the engine releases the GIL: texts are copied to UTF-8 std::strings first,
//   results are turned into Python objects after.
// - refusal::Error becomes refusal.RefusalError (a ValueError) with the engine's message; any other
//   C++ exception becomes a Python exception by nanobind's defaults (RuntimeError, MemoryError...).
//   Nothing reaches std::terminate.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/data_files.h"
#include "io/verdict_record.h"
#include "refusal/classifier.h"
#include "refusal/engine.h"
#include "refusal/error.h"
#include "refusal/job.h"
#include "refusal/model.h"
#include "refusal/scanner_rules.h"
#include "refusal/version.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using nlohmann::ordered_json;
using FloatArray = nb::ndarray<nb::numpy, float, nb::ndim<2>, nb::c_contig>;

// A str, or an iterable of str, as UTF-8 strings. Anything else (bytes, None, numbers, a str
// that cannot be UTF-8 because of lone surrogates) is a refusal::Error naming the item.
std::vector<std::string> to_texts(nb::handle obj) {
  std::vector<std::string> texts;
  auto one = [&](nb::handle item, std::size_t index, bool single) {
    if (!PyUnicode_Check(item.ptr())) {
      const std::string type = nb::type_name(item.type()).c_str();
      throw refusal::Error(single
                               ? "texts: expected a str or a list of str, got " + type
                               : "texts[" + std::to_string(index) + "]: expected str, got " + type);
    }
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(item.ptr(), &size);
    if (data == nullptr) {
      PyErr_Clear();
      throw refusal::Error((single ? std::string("text") : "texts[" + std::to_string(index) + "]") +
                           ": not encodable as UTF-8 (lone surrogate?)");
    }
    texts.emplace_back(data, static_cast<std::size_t>(size));
  };
  if (PyUnicode_Check(obj.ptr())) {
    one(obj, 0, true);
    return texts;
  }
  if (PyBytes_Check(obj.ptr()) || obj.is_none()) {
    one(obj, 0, true);  // throws with the type's name
  }
  PyObject* iter = PyObject_GetIter(obj.ptr());
  if (iter == nullptr) {
    PyErr_Clear();
    one(obj, 0, true);  // throws
  }
  nb::object it = nb::steal(iter);
  std::size_t index = 0;
  while (PyObject* raw = PyIter_Next(it.ptr())) {
    nb::object item = nb::steal(raw);
    one(item, index++, false);
  }
  if (PyErr_Occurred()) throw nb::python_error();
  return texts;
}

std::vector<std::string_view> views(const std::vector<std::string>& texts) {
  return {texts.begin(), texts.end()};
}

// A JSON value of a record (io::verdict_record) as the Python object json.loads would give.
nb::object to_python(const ordered_json& j) {
  switch (j.type()) {
    case ordered_json::value_t::null:
      return nb::none();
    case ordered_json::value_t::boolean:
      return nb::bool_(j.get<bool>());
    case ordered_json::value_t::number_integer:
      return nb::int_(j.get<std::int64_t>());
    case ordered_json::value_t::number_unsigned:
      return nb::int_(j.get<std::uint64_t>());
    case ordered_json::value_t::number_float:
      return nb::float_(j.get<double>());
    case ordered_json::value_t::string:
      return nb::str(j.get_ref<const std::string&>().c_str(),
                     j.get_ref<const std::string&>().size());
    case ordered_json::value_t::array: {
      nb::list list;
      for (const auto& item : j) list.append(to_python(item));
      return list;
    }
    case ordered_json::value_t::object: {
      nb::dict dict;
      for (auto it = j.begin(); it != j.end(); ++it)
        dict[nb::str(it.key().c_str())] = to_python(*it);
      return dict;
    }
    default:
      throw refusal::Error("record: unexpected JSON value");
  }
}

// One loaded model with its classifier options: refusal::Classifier, shared by every Python
// thread that calls it (the library makes classify thread-safe).
class PyClassifier {
 public:
  PyClassifier(const std::string& model, int threads, const std::string& dtype,
               std::optional<std::size_t> max_length, std::size_t stride,
               std::optional<double> threshold, const std::string& match,
               const std::string& long_text, const std::string& preset, std::size_t batch_tokens,
               const std::string& punkt_dir) {
    if (threads < 0) throw refusal::Error("threads: " + std::to_string(threads) + " is negative");
    refusal::ClassifierOptions options;
    options.preset = refusal::parse_preset(preset);
    options.match = refusal::parse_match_mode(match);
    options.long_text = refusal::parse_long_text_mode(long_text);
    options.max_length = max_length;
    options.stride = stride;
    options.threshold = threshold;
    options.batch_tokens = batch_tokens;
    options.punkt_dir = punkt_dir;
    const refusal::EngineOptions engine{.threads = threads, .dtype = refusal::parse_dtype(dtype)};
    nb::gil_scoped_release release;
    classifier_ =
        std::make_unique<refusal::Classifier>(refusal::Classifier::load(model, engine, options));
  }

  const refusal::Classifier& get() const { return *classifier_; }

  std::vector<refusal::Verdict> classify(nb::handle texts_obj) const {
    const auto texts = to_texts(texts_obj);
    const auto v = views(texts);
    nb::gil_scoped_release release;
    return classifier_->classify(v);
  }

  // `refusal classify`'s result fields for each text (io::verdict_record), as dicts. With
  // `errors`, a text that cannot be classified gets {"error": message} and the others their
  // records; without, the first such text raises RefusalError.
  nb::list records(nb::handle texts_obj, bool explain, bool raw_scores, bool errors) const {
    const auto texts = to_texts(texts_obj);
    const auto v = views(texts);
    const refusal::io::RecordFields fields{classifier_->options().llm_guard(), raw_scores, explain};
    std::vector<ordered_json> records;
    {
      nb::gil_scoped_release release;
      const auto& config = classifier_->engine().config();
      if (errors) {
        for (const auto& r : classifier_->classify_each(v)) {
          records.push_back(r.ok() ? refusal::io::verdict_record(r.verdict, config, fields)
                                   : ordered_json{{"error", r.error}});
        }
      } else {
        for (const auto& verdict : classifier_->classify(v)) {
          records.push_back(refusal::io::verdict_record(verdict, config, fields));
        }
      }
    }
    nb::list out;
    for (const auto& r : records) out.append(to_python(r));
    return out;
  }

  // (probabilities, logits) of each text's deciding segment, float32 [n, labels]. A text that
  // had nothing to score (blank text in llm_guard mode, no sentence in sentence mode) gets zeros.
  nb::tuple arrays(nb::handle texts_obj) const {
    const auto texts = to_texts(texts_obj);
    const auto v = views(texts);
    const auto labels = static_cast<std::size_t>(classifier_->engine().config().num_labels());
    const std::size_t n = texts.size();
    auto probs = std::make_unique<float[]>(n * labels + 1);
    auto logits = std::make_unique<float[]>(n * labels + 1);
    {
      nb::gil_scoped_release release;
      const auto verdicts = classifier_->classify(v);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < labels; ++j) {
          const auto& s = verdicts[i].scores;
          const auto& l = verdicts[i].logits;
          probs[i * labels + j] = j < s.size() ? s[j] : 0.0f;
          logits[i * labels + j] = j < l.size() ? l[j] : 0.0f;
        }
      }
    }
    return nb::make_tuple(wrap(std::move(probs), n, labels), wrap(std::move(logits), n, labels));
  }

 private:
  static nb::object wrap(std::unique_ptr<float[]> data, std::size_t n, std::size_t labels) {
    float* raw = data.release();
    nb::capsule owner(raw, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return nb::cast(FloatArray(raw, {n, labels}, owner));
  }

  std::unique_ptr<refusal::Classifier> classifier_;
};

// ---- classify_file: `refusal classify --input ... --output ...`, the same library job ----

nb::dict classify_file(const std::string& model, int threads, const std::string& dtype,
                       const std::string& preset, std::optional<double> threshold,
                       const std::string& match, const std::string& long_text,
                       std::optional<std::size_t> max_length, std::size_t stride,
                       const std::string& punkt_dir, const refusal::FileJobOptions& job) {
  using namespace refusal;
  if (threads < 0) throw Error("threads: " + std::to_string(threads) + " is negative");
  ClassifierOptions options;
  options.preset = parse_preset(preset);
  options.match = parse_match_mode(match);
  options.long_text = parse_long_text_mode(long_text);
  options.threshold = threshold;
  options.max_length = max_length;
  options.stride = stride;
  options.punkt_dir = punkt_dir;
  const EngineOptions engine{.threads = threads, .dtype = parse_dtype(dtype)};
  JobCounts counts;
  {
    nb::gil_scoped_release release;
    counts = refusal::classify_file(model, engine, options, job);
  }
  nb::dict d;
  d["rows"] = counts.rows;
  d["resumed"] = counts.resumed;
  d["written"] = counts.written;
  d["errors"] = counts.errors;
  return d;
}

}  // namespace

NB_MODULE(_refusal, m) {
  m.doc() = "The refusal C++ engine (private: use the `refusal` package).";
  nb::exception<refusal::Error>(m, "RefusalError", PyExc_ValueError);

  m.def("version", [] { return std::string(refusal::version()); });
  m.def(
      "find_data_file",
      [](const std::string& relative) -> std::optional<std::string> {
        auto found = refusal::base::find_data_file(relative);
        if (!found) return std::nullopt;
        return found->string();
      },
      "relative"_a);
  m.def("data_search_path", [] { return refusal::base::data_search_path_text(); });
  // The result fields of a record (io::record_columns), in order, for a preset and options.
  m.def(
      "record_columns",
      [](const std::string& preset, bool explain, bool raw_scores) {
        const refusal::Preset p = refusal::parse_preset(preset);
        return refusal::io::record_columns({p == refusal::Preset::kLlmGuard, raw_scores, explain},
                                           p == refusal::Preset::kKeywords);
      },
      "preset"_a, "explain"_a = false, "raw_scores"_a = false);
  m.def(
      "model_labels",
      [](const std::string& model) {
        return refusal::load_model_config(refusal::resolve_model(model).config).labels;
      },
      "model"_a);
  m.def(
      "resolve_model",
      [](const std::string& model) {
        const auto files = refusal::resolve_model(model);
        nb::dict d;
        d["request"] = files.request;
        d["resolved_as"] = files.resolved_as;
        d["folder"] = files.folder.string();
        return d;
      },
      "model"_a);

  nb::class_<refusal::Evidence>(m, "Evidence")
      .def_ro("segment", &refusal::Evidence::segment)
      .def_ro("window", &refusal::Evidence::window)
      .def_ro("char_begin", &refusal::Evidence::char_begin)
      .def_ro("char_end", &refusal::Evidence::char_end)
      .def_ro("text", &refusal::Evidence::text);

  nb::class_<refusal::Verdict>(m, "Verdict")
      .def_ro("label", &refusal::Verdict::label)
      .def_ro("score", &refusal::Verdict::score)
      .def_ro("scores", &refusal::Verdict::scores)
      .def_ro("logits", &refusal::Verdict::logits)
      .def_ro("refusal", &refusal::Verdict::refusal)
      .def_ro("evidence", &refusal::Verdict::evidence)
      .def_ro("segments", &refusal::Verdict::segments)
      .def_ro("windows", &refusal::Verdict::windows)
      .def_ro("tokens", &refusal::Verdict::tokens)
      .def_ro("truncated", &refusal::Verdict::truncated)
      .def_ro("is_valid", &refusal::Verdict::is_valid)
      .def_ro("risk_score", &refusal::Verdict::risk_score);

  nb::class_<PyClassifier>(m, "Classifier")
      .def(nb::init<const std::string&, int, const std::string&, std::optional<std::size_t>,
                    std::size_t, std::optional<double>, const std::string&, const std::string&,
                    const std::string&, std::size_t, const std::string&>(),
           "model"_a, "threads"_a = 0, "dtype"_a = "fp32", "max_length"_a.none() = nb::none(),
           "stride"_a = 0, "threshold"_a.none() = nb::none(), "match"_a = "full",
           "long_text"_a = "truncate", "preset"_a = "default", "batch_tokens"_a = 8192,
           "punkt_dir"_a = "")
      .def("classify", &PyClassifier::classify, "texts"_a.none())
      .def("records", &PyClassifier::records, "texts"_a.none(), "explain"_a = false,
           "raw_scores"_a = false, "errors"_a = false)
      .def_prop_ro("threshold", [](const PyClassifier& c) { return c.get().threshold(); })
      .def_prop_ro("max_length", [](const PyClassifier& c) { return c.get().max_length(); })
      .def("arrays", &PyClassifier::arrays, "texts"_a.none())
      .def_prop_ro("labels", [](const PyClassifier& c) { return c.get().engine().config().labels; })
      .def_prop_ro("refusal_label", [](const PyClassifier& c) { return c.get().refusal_label(); })
      .def_prop_ro("multi_label",
                   [](const PyClassifier& c) { return c.get().engine().config().multi_label(); })
      .def_prop_ro("problem_type",
                   [](const PyClassifier& c) { return c.get().engine().config().problem_type; })
      .def_prop_ro("model_type",
                   [](const PyClassifier& c) { return c.get().engine().config().model_type; })
      .def_prop_ro("threads", [](const PyClassifier& c) { return c.get().engine().threads(); })
      .def_prop_ro("dtype",
                   [](const PyClassifier& c) {
                     return std::string(refusal::dtype_name(c.get().engine().dtype()));
                   })
      .def_prop_ro("isa", [](const PyClassifier& c) { return c.get().engine().isa(); })
      .def_prop_ro("parameter_count",
                   [](const PyClassifier& c) { return c.get().engine().parameter_count(); })
      .def_prop_ro("max_tokens",
                   [](const PyClassifier& c) { return c.get().engine().config().max_tokens(); })
      .def_prop_ro("model_folder",
                   [](const PyClassifier& c) { return c.get().engine().files().folder.string(); });

  m.def(
      "no_refusal_light",
      [](const std::string& output) {
        const auto v = refusal::no_refusal_light(output);
        return nb::make_tuple(v.is_valid, v.risk_score, v.matched);
      },
      "output"_a);
  m.def("no_refusal_light_phrases", [] {
    std::vector<std::string> phrases;
    for (auto p : refusal::no_refusal_light_phrases()) phrases.emplace_back(p);
    return phrases;
  });
  m.def("calculate_risk_score", &refusal::calculate_risk_score, "score"_a, "threshold"_a);
  m.def(
      "split_sentences",
      [](const std::string& text, const std::string& punkt_dir) {
        const auto params = refusal::load_punkt_parameters(punkt_dir);
        std::vector<std::string> out;
        for (auto& s : refusal::split_sentences(text, params)) out.push_back(std::move(s.text));
        return out;
      },
      "text"_a, "punkt_dir"_a);

  nb::class_<refusal::FileJobOptions>(m, "FileJobOptions")
      .def(nb::init<>())
      .def_rw("texts", &refusal::FileJobOptions::texts)
      .def_rw("input", &refusal::FileJobOptions::input)
      .def_rw("field", &refusal::FileJobOptions::field)
      .def_rw("input_format", &refusal::FileJobOptions::input_format)
      .def_rw("output", &refusal::FileJobOptions::output)
      .def_rw("output_format", &refusal::FileJobOptions::output_format)
      .def_rw("explain", &refusal::FileJobOptions::explain)
      .def_rw("raw_scores", &refusal::FileJobOptions::raw_scores)
      .def_rw("resume", &refusal::FileJobOptions::resume)
      .def_rw("batch_size", &refusal::FileJobOptions::batch_size)
      .def_rw("chunk_rows", &refusal::FileJobOptions::chunk_rows)
      .def_rw("progress", &refusal::FileJobOptions::progress);
  m.def("check_file_job", &refusal::check_file_job, "job"_a);
  m.def("classify_file", &classify_file, "model"_a, "threads"_a, "dtype"_a, "preset"_a,
        "threshold"_a.none(), "match"_a, "long_text"_a, "max_length"_a.none(), "stride"_a,
        "punkt_dir"_a, "job"_a);
}
