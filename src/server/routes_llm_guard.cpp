// LLM Guard API (llm_guard_api 0.0.10): POST /analyze/output, POST /scan/output, GET /healthz,
// GET /readyz, answered byte for byte as its FastAPI app does (tests/data/server/
// llm_guard_api.vectors.json holds the recorded answers), with the NoRefusal and (when
// configured) NoRefusalLight output scanners.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "base/utf8.h"
#include "refusal/scanner_rules.h"
#include "scan/python_emulation.h"
#include "server/json_text.h"
#include "server/server_impl.h"

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

std::string message_body(const std::string& message) {
  return python_json_dumps(ordered_json{{"message", message}, {"details", nullptr}});
}

std::string validation_body(const ordered_json& details) {
  ordered_json body;
  body["message"] = "Validation failed";
  body["details"] = details;
  return python_json_dumps(body);
}

ordered_json error_entry(const char* type, ordered_json loc, const char* msg,
                         const ordered_json& input) {
  ordered_json e;
  e["type"] = type;
  e["loc"] = std::move(loc);
  e["msg"] = msg;
  e["input"] = input;
  return e;
}

// FastAPI 0.115 reads the body as JSON when there is no Content-Type or an application/json
// (or +json) one; otherwise it hands the raw bytes to pydantic.
bool json_content_type(const std::string& header) {
  if (header.empty()) return true;
  std::string t = header.substr(0, header.find(';'));
  std::string lower;
  for (char c : t) {
    if (c != ' ' && c != '\t') lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto slash = lower.find('/');
  if (slash == std::string::npos || lower.substr(0, slash) != "application") return false;
  const std::string sub = lower.substr(slash + 1);
  return sub == "json" || (sub.size() >= 5 && sub.compare(sub.size() - 5, 5, "+json") == 0);
}

struct Request {
  std::string prompt;
  std::string output;
  std::vector<std::string> suppress;
};

}  // namespace

void Server::Impl::register_llm_guard_routes(httplib::Server& svr) {
  svr.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    set_json(res, 200, R"({"status":"alive"})");
  });
  svr.Get("/readyz", [](const httplib::Request&, httplib::Response& res) {
    set_json(res, 200, R"({"status":"ready"})");
  });

  for (const bool analyze : {true, false}) {
    const std::string path = analyze ? "/analyze/output" : "/scan/output";
    svr.Get(path, [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST");
      set_json(res, 405, message_body("Method Not Allowed"));
    });
    svr.Post(path, [this, analyze](const httplib::Request& req, httplib::Response& res) {
      // 1. The body, as FastAPI decodes it.
      ordered_json body;  // null: no body
      const bool has_body = !req.body.empty();
      if (has_body) {
        if (base::first_invalid_utf8(req.body)) {
          set_json(res, 400, message_body("There was an error parsing the body"));
          return;
        }
        if (json_content_type(req.get_header_value("Content-Type"))) {
          const PyJsonCheck check = python_json_check(req.body);
          if (check.too_deep) {
            set_json(res, 400, message_body("There was an error parsing the body"));
            return;
          }
          if (check.error || check.non_finite || check.lone_surrogate) {
            ordered_json ctx;
            ctx["error"] = check.error ? check.error->message
                                       : std::string("NaN, Infinity and unpaired surrogate "
                                                     "escapes are not accepted");
            ordered_json e = error_entry(
                "json_invalid", ordered_json::array({"body", check.error ? check.error->pos : 0}),
                "JSON decode error", ordered_json::object());
            e["ctx"] = ctx;
            set_json(res, 422, validation_body(ordered_json::array({e})));
            return;
          }
          try {
            body = ordered_json::parse(req.body);
          } catch (const std::exception&) {
            set_json(res, 400, message_body("There was an error parsing the body"));
            return;
          }
        } else {
          body = req.body;  // pydantic sees bytes: not an object
        }
      }
      // 2. Auth (a FastAPI dependency: after the JSON is read, before it is validated).
      switch (check_bearer(req)) {
        case AuthResult::kOk: break;
        case AuthResult::kMissing: set_json(res, 403, message_body("Not authenticated")); return;
        case AuthResult::kWrongScheme:
          set_json(res, 403, message_body("Invalid authentication credentials"));
          return;
        case AuthResult::kWrongKey: set_json(res, 401, message_body("Invalid API key")); return;
      }
      // 3. Validation, as pydantic reports it.
      ordered_json details = ordered_json::array();
      Request r;
      if (body.is_null()) {
        details.push_back(error_entry("missing", ordered_json::array({"body"}), "Field required", nullptr));
      } else if (!body.is_object()) {
        details.push_back(error_entry("model_attributes_type", ordered_json::array({"body"}),
                                      "Input should be a valid dictionary or object to extract "
                                      "fields from",
                                      body));
      } else {
        for (const char* field : {"prompt", "output"}) {
          auto it = body.find(field);
          if (it == body.end()) {
            details.push_back(error_entry("missing", ordered_json::array({"body", field}), "Field required", body));
          } else if (!it->is_string()) {
            details.push_back(
                error_entry("string_type", ordered_json::array({"body", field}), "Input should be a valid string", *it));
          } else {
            (std::string(field) == "prompt" ? r.prompt : r.output) = it->get<std::string>();
          }
        }
        auto it = body.find("scanners_suppress");
        if (it != body.end()) {
          if (!it->is_array()) {
            details.push_back(error_entry("list_type", ordered_json::array({"body", "scanners_suppress"}),
                                          "Input should be a valid list", *it));
          } else {
            for (std::size_t i = 0; i < it->size(); ++i) {
              const auto& v = (*it)[i];
              if (!v.is_string()) {
                details.push_back(error_entry("string_type", ordered_json::array({"body", "scanners_suppress", i}),
                                              "Input should be a valid string", v));
              } else {
                r.suppress.push_back(v.get<std::string>());
              }
            }
          }
        }
        // Our limit, reported as pydantic reports a max_length constraint.
        for (const char* field : {"prompt", "output"}) {
          const std::string& s = std::string(field) == "prompt" ? r.prompt : r.output;
          if (base::count_code_points(s) > config.max_text_chars) {
            ordered_json e = error_entry(
                "string_too_long", ordered_json::array({"body", field}),
                ("String should have at most " + std::to_string(config.max_text_chars) +
                 " characters")
                    .c_str(),
                s);
            e["ctx"] = {{"max_length", config.max_text_chars}};
            details.push_back(e);
          }
        }
      }
      if (!details.empty()) {
        set_json(res, 422, validation_body(details));
        return;
      }
      // 4. The scanners, in the configured order (NoRefusal, NoRefusalLight).
      bool is_valid = true;
      ordered_json scanners = ordered_json::object();
      // scan_output (analyze) returns before any scanner on blank output; /scan/output runs
      // each scanner: NoRefusal's own blank check gives (true, -1.0).
      const bool blank = python_isspace_only(r.output);
      if (!(analyze && blank)) {
        for (const auto& name : config.scanners) {
          if (std::find(r.suppress.begin(), r.suppress.end(), name) != r.suppress.end()) continue;
          bool valid = true;
          double risk = -1.0;
          if (name == "NoRefusalLight") {
            const auto v = no_refusal_light(r.output);
            valid = v.is_valid;
            risk = v.risk_score;
          } else if (!blank) {
            Outcome o = classify(llm_guard, {r.output}, deadline());
            if (o.status == Outcome::Status::kQueueFull) {
              res.set_header("Retry-After", std::to_string(o.retry_after));
              set_json(res, 429, message_body("Too Many Requests"));
              return;
            }
            if (o.status == Outcome::Status::kTimeout) {
              set_json(res, 408, message_body("Request timeout."));
              return;
            }
            if (!o.errors[0].empty()) {
              set_json(res, 500, message_body("Internal Server Error"));
              return;
            }
            valid = o.verdicts[0].is_valid;
            risk = o.verdicts[0].risk_score;
          }
          if (config.fail_fast && !valid && !analyze) {
            // /scan/output: the first invalid scanner aborts the gather; only it is reported.
            scanners = ordered_json::object();
            scanners[name] = risk;
            is_valid = false;
            break;
          }
          scanners[name] = risk;
          is_valid = is_valid && valid;
          if (config.fail_fast && !valid) break;  // scan_output(fail_fast=True)
        }
      }
      std::string out = std::string("{\"is_valid\":") + (is_valid ? "true" : "false") +
                        ",\"scanners\":" + python_json_dumps(scanners);
      if (analyze) out += ",\"sanitized_output\":" + python_json_dumps(ordered_json(r.output));
      out += "}";
      set_json(res, 200, out);
    });
  }
}

}  // namespace refusal::server
