// What a route reads from an HTTP request and what it answers, as plain values (no
// cpp-httplib), so that every route's parse -> handle -> render steps run without a socket.
// server.cpp turns httplib's request and response into and from these.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace refusal::server {

// A request as the routes see it: views into the HTTP layer's request (valid while it is).
struct HttpRequestView {
  std::string_view method;  // "GET", "POST", ...
  std::string_view path;    // decoded path, no query
  std::string_view body;
  std::string_view content_type;  // the headers the APIs read; "" when absent
  std::string_view authorization;
  std::string_view accept;
  // When the request's first byte arrived: its queue and compute deadline counts from here.
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type;  // "" with an empty body: no Content-Type header
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type

  const std::string* header(std::string_view name) const;  // exact name; null when absent
};

HttpResponse json_response(int status, std::string body);
HttpResponse text_response(int status, std::string body);  // text/plain; charset=utf-8

// An error in the {"error","error_type"} shape that TEI and the native API share.
struct ApiError {
  int status = 500;
  std::string message;
  std::string type;     // e.g. validation, overloaded, timeout, backend
  int retry_after = 0;  // seconds, for 429; 0: no Retry-After header
};

// {"error":message,"error_type":type}, with Retry-After when it is set.
HttpResponse api_error_response(const ApiError& error);

// A parse step's result: the request, or the API's answer to a bad one (in that API's shape).
template <class Request>
using Parsed = std::variant<Request, HttpResponse>;

// Seconds from `start` to now.
double seconds_since(std::chrono::steady_clock::time_point start);

// The standard reason phrase of an HTTP status ("Not Found"); "Error" for one not listed.
const char* status_phrase(int status);

}  // namespace refusal::server
