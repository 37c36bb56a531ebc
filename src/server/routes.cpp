#include "server/routes.h"

#include <algorithm>

#include "refusal/version.h"
#include "server/routes_llm_guard.h"
#include "server/routes_native.h"
#include "server/routes_tei.h"
#include "server/services.h"

namespace refusal::server {
namespace {

using nlohmann::ordered_json;

HttpResponse answer_root(const HttpRequestView& request, Services&) {
  // Browsers get the page; API clients get LLM Guard's root answer.
  if (request.accept.find("text/html") != std::string_view::npos) {
    return {.body = web_page_html(), .content_type = "text/html; charset=utf-8"};
  }
  return json_response(200, R"({"name":"LLM Guard API"})");
}

HttpResponse answer_page(const HttpRequestView&, Services&) {
  return {.body = web_page_html(), .content_type = "text/html; charset=utf-8"};
}

HttpResponse answer_metrics(const HttpRequestView&, Services& services) {
  services.metrics().queue_depth(services.batcher().depth());
  const Engine& engine = services.engine();
  return {.body = services.metrics().render(version(), services.config().model,
                                            dtype_name(engine.dtype()), engine.isa()),
          .content_type = "text/plain; version=0.0.4; charset=utf-8"};
}

HttpResponse answer_openapi(const HttpRequestView&, Services& services) {
  return json_response(200, openapi_json(services.config()));
}

using enum ApiFamily;

// Every route, in /openapi.json's order. The POST routes need the key when api_keys are set.
constexpr Route kRoutes[] = {
    {.method = "POST",
     .path = "/analyze/output",
     .family = kLlmGuard,
     .needs_auth = true,
     .summary = "LLM Guard: scan an output, return it sanitized",
     .openapi = llm_guard_openapi,
     .before_auth = llm_guard_before_auth,
     .answer = answer_analyze_output},
    {.method = "POST",
     .path = "/scan/output",
     .family = kLlmGuard,
     .needs_auth = true,
     .summary = "LLM Guard: scan an output",
     .openapi = llm_guard_openapi,
     .before_auth = llm_guard_before_auth,
     .answer = answer_scan_output},
    {.method = "GET",
     .path = "/healthz",
     .family = kLlmGuard,
     .summary = "LLM Guard liveness",
     .answer = answer_healthz},
    {.method = "GET",
     .path = "/readyz",
     .family = kLlmGuard,
     .summary = "LLM Guard readiness",
     .answer = answer_readyz},
    {.method = "POST",
     .path = "/predict",
     .family = kTei,
     .needs_auth = true,
     .summary = "TEI: classify a text, a pair or a batch; every label, highest score first",
     .openapi = tei_openapi,
     .answer = answer_predict},
    {.method = "GET",
     .path = "/health",
     .family = kTei,
     .summary = "TEI health",
     .answer = answer_health},
    {.method = "GET",
     .path = "/info",
     .family = kTei,
     .summary = "TEI model and router info",
     .answer = answer_info},
    {.method = "POST",
     .path = "/v1/classify",
     .family = kNative,
     .needs_auth = true,
     .summary = "Native: `refusal classify` over HTTP",
     .openapi = native_openapi,
     .answer = answer_classify},
    {.method = "GET",
     .path = "/metrics",
     .summary = "Prometheus metrics",
     .answer = answer_metrics},
    {.method = "GET",
     .path = "/openapi.json",
     .summary = "This document",
     .answer = answer_openapi},
    {.method = "GET",
     .path = "/",
     .summary = "Web page (Accept: text/html) or {\"name\":\"LLM Guard API\"}",
     .answer = answer_root},
    {.method = "GET", .path = "/ui", .summary = "Web page", .answer = answer_page},
};

// The methods a path is routed for, for 405's Allow header ("" when the path is unknown).
std::string allowed_methods(std::string_view path) {
  std::string allow;
  for (const Route& r : kRoutes) {
    if (r.path == path) allow += (allow.empty() ? "" : ", ") + std::string(r.method);
  }
  return allow;
}

}  // namespace

const ApiShape& shape_of(ApiFamily family) {
  static constexpr ApiShape kLlmGuardShape{llm_guard_auth_failure, llm_guard_http_error};
  static constexpr ApiShape kTeiShape{tei_auth_failure, tei_http_error};
  static constexpr ApiShape kNativeShape{native_auth_failure, native_http_error};
  switch (family) {
    case kTei:
      return kTeiShape;
    case kNative:
      return kNativeShape;
    default:
      return kLlmGuardShape;  // the root app is LLM Guard's
  }
}

std::span<const Route> routes() { return kRoutes; }

const Route* find_route(std::string_view method, std::string_view path) {
  if (method == "HEAD") method = "GET";
  for (const Route& r : kRoutes) {
    if (r.method == method && r.path == path) return &r;
  }
  return nullptr;
}

ApiFamily family_of_path(std::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.path == path) return r.family;
  }
  return path.starts_with("/v1/") ? kNative : kLlmGuard;
}

std::string_view metrics_route_label(std::string_view path) {
  for (const Route& r : kRoutes) {
    if (r.path == path) return r.path;
  }
  return "other";
}

HttpResponse answer(const HttpRequestView& request, Services& services) {
  const ApiShape& shape = shape_of(family_of_path(request.path));
  const Route* route = find_route(request.method, request.path);
  if (route == nullptr) {
    const std::string allow = allowed_methods(request.path);
    if (allow.empty()) return shape.http_error(404);
    HttpResponse r = shape.http_error(405);
    r.headers.emplace_back("Allow", allow);
    return r;
  }
  if (route->before_auth) {
    if (auto early = route->before_auth(request)) return std::move(*early);
  }
  if (route->needs_auth) {
    const AuthResult auth = check_bearer(request.authorization, services.config().api_keys);
    if (auth != AuthResult::kOk) return shape.auth_failure(auth);
  }
  return route->answer(request, services);
}

std::string openapi_json(const ServerConfig& config) {
  ordered_json paths = ordered_json::object();
  for (const Route& r : kRoutes) {
    ordered_json op = {{"summary", r.summary}};
    if (r.openapi) {
      op.update(r.openapi(config));
    } else {
      op["responses"] = {{"200", {{"description", "OK"}}}};
    }
    std::string method(r.method);
    std::transform(method.begin(), method.end(), method.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    paths[std::string(r.path)][method] = op;
  }
  ordered_json doc;
  doc["openapi"] = "3.1.0";
  doc["info"] = {{"title", "refusal serve"}, {"version", "0.1.0"}};
  doc["paths"] = paths;
  if (!config.api_keys.empty()) {
    doc["components"] = {
        {"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}};
  }
  return doc.dump();
}

}  // namespace refusal::server
