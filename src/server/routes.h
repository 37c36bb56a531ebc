// The route table: every (method, path) the server answers, listed once. Registration with
// the HTTP layer, the auth check, 404 / 405 answers, /openapi.json and the metrics' route
// labels all read it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "server/auth.h"
#include "server/config.h"
#include "server/http_types.h"

namespace refusal::server {

class Services;

// Whose API a path belongs to; it picks the shape of the errors answered there.
enum class ApiFamily { kLlmGuard, kTei, kNative, kOther };

// How an API answers what the auth check or the HTTP layer refuses.
struct ApiShape {
  HttpResponse (*auth_failure)(AuthResult result);
  // 400, 404, 405, 413, 500, ...: what the HTTP layer (not a route) refused.
  HttpResponse (*http_error)(int status);
};

const ApiShape& shape_of(ApiFamily family);

struct Route {
  std::string_view method;
  std::string_view path;
  ApiFamily family = ApiFamily::kOther;
  bool needs_auth = false;   // the configured api_keys, checked by check_bearer
  std::string_view summary;  // /openapi.json
  // A POST route's request body and answers for /openapi.json; null for a GET route.
  nlohmann::ordered_json (*openapi)(const ServerConfig& config) = nullptr;
  // What the API answers before it checks the key; null: nothing. (FastAPI decodes the JSON
  // body before running the auth dependency, so a malformed body is a 422 even without a key.)
  std::optional<HttpResponse> (*before_auth)(const HttpRequestView& request) = nullptr;
  HttpResponse (*answer)(const HttpRequestView& request, Services& services) = nullptr;
};

std::span<const Route> routes();

// The route of method + path (HEAD is GET); null when there is none.
const Route* find_route(std::string_view method, std::string_view path);

// The API a path belongs to: its routes', else /v1/... native, else the LLM Guard API's (the
// root app's).
ApiFamily family_of_path(std::string_view path);

// The `route` label of the request metrics: the path of a listed route, else "other" (so that
// clients cannot grow the label set).
std::string_view metrics_route_label(std::string_view path);

// The server's answer to a request: the route's, after its API's pre-auth checks and the auth
// check; for a listed path asked with another method 405 with Allow; else 404. Each error in
// the path's API's shape.
HttpResponse answer(const HttpRequestView& request, Services& services);

// OpenAPI 3.1 description of the route table.
std::string openapi_json(const ServerConfig& config);

// The web page at / (for browsers) and /ui.
const std::string& web_page_html();

}  // namespace refusal::server
