#include "server/http_types.h"

#include <nlohmann/json.hpp>

namespace refusal::server {

const std::string* HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return &value;
  }
  return nullptr;
}

HttpResponse json_response(int status, std::string body) {
  return {.status = status, .body = std::move(body), .content_type = "application/json"};
}

HttpResponse text_response(int status, std::string body) {
  return {.status = status, .body = std::move(body), .content_type = "text/plain; charset=utf-8"};
}

HttpResponse api_error_response(const ApiError& error) {
  nlohmann::ordered_json j;
  j["error"] = error.message;
  j["error_type"] = error.type;
  HttpResponse r = json_response(error.status, j.dump());
  if (error.retry_after > 0)
    r.headers.emplace_back("Retry-After", std::to_string(error.retry_after));
  return r;
}

const char* status_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace refusal::server
