// API keys never leave the server: no answer of any route (auth failures included), no
// /metrics or /openapi.json, no access-log line and no printed setting holds a configured key,
// whatever key a client sends. (Keys are compared in constant time on every route:
// routes_test.cpp, Auth.*.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "refusal/engine.h"
#include "refusal/model.h"
#include "refusal/tokenizer.h"
#include "server/config.h"
#include "server/routes.h"
#include "server/server.h"
#include "server/services.h"
#include "test_support.h"

namespace refusal::server {
namespace {

const char* kModel = "tests/data/models/random-roberta-tok";
const std::string kKey = "s3cret-Key-9f2c";
const std::string kOtherKey = "other-" + kKey;

ServerConfig keyed_config() {
  ServerConfig c;
  c.model = kModel;
  c.api_keys = {kKey, kOtherKey};
  return c;
}

// What clients send in Authorization: the right key, near misses around it, other schemes.
std::vector<std::string> authorizations() {
  return {"Bearer " + kKey,
          "Bearer " + kKey + "x",
          "Bearer " + kKey.substr(0, 6),
          "bearer " + kOtherKey,
          "Basic " + kKey,
          "Bearer",
          ""};
}

std::string body_for(std::string_view path) {
  if (path == "/predict") return R"({"inputs":"hello"})";
  if (path == "/v1/classify") return R"({"text":"hello"})";
  return R"({"prompt":"p","output":"hello"})";
}

void expect_no_key(const std::string& where, const std::string& text) {
  EXPECT_EQ(text.find(kKey), std::string::npos) << where << ": " << text;
}

void expect_no_key(const std::string& where, const HttpResponse& r) {
  expect_no_key(where + " body", r.body);
  for (const auto& [name, value] : r.headers) expect_no_key(where + " header " + name, value);
}

TEST(Secrets, NoRouteAnswerHoldsAKey) {
  const ServerConfig config = keyed_config();
  const ModelFiles files = resolve_model(kModel);
  Services services(config, std::make_shared<const Engine>(Engine::load(files, {.threads = 1})),
                    Tokenizer::from_model_folder(files.folder));
  int answered = 0;
  for (const Route& route : routes()) {
    const std::string body = body_for(route.path);
    for (const std::string& auth : authorizations()) {
      HttpRequestView request{.method = route.method,
                              .path = route.path,
                              .body = route.method == "POST" ? std::string_view(body) : "",
                              .content_type = "application/json",
                              .authorization = auth};
      expect_no_key(std::string(route.method) + " " + std::string(route.path) + " [" + auth + "]",
                    answer(request, services));
      ++answered;
    }
  }
  EXPECT_GT(answered, 50);
  // The settings as `refusal serve --help` and any log print them: a count, not the keys.
  EXPECT_EQ(setting_value(config, "api_keys"), "2 key(s)");
  expect_no_key("openapi", openapi_json(config));
}

TEST(Secrets, NoAccessLogLineOrMetricHoldsAKey) {
  testing::TempDir dir;
  const std::string log_path = (dir / "stderr.txt").string();
  std::string metrics;
  {
    ServerConfig config = keyed_config();
    config.host = "127.0.0.1";
    config.port = 0;
    config.http_threads = 4;
    config.access_log = true;
    const ModelFiles files = resolve_model(kModel);
    Server server(config, std::make_shared<const Engine>(Engine::load(files, {.threads = 1})),
                  Tokenizer::from_model_folder(files.folder));
    const int port = server.bind();
    // The access log goes to stderr: catch it in a file while the server runs.
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT_GE(log, 0);
    ::dup2(log, STDERR_FILENO);
    std::thread serving([&] { server.serve(); });
    httplib::Client cli("127.0.0.1", port);
    for (const char* path : {"/analyze/output", "/scan/output", "/predict", "/v1/classify"}) {
      for (const std::string& auth : authorizations()) {
        httplib::Headers headers;
        if (!auth.empty()) headers.emplace("Authorization", auth);
        const auto r = cli.Post(path, headers, body_for(path), "application/json");
        ASSERT_TRUE(r) << path;
        expect_no_key(std::string(path) + " answer", r->body);
        for (const auto& [name, value] : r->headers) expect_no_key(name, value);
      }
    }
    // A key in the query string is not a way in, and is not logged either.
    cli.Get("/healthz?api_key=" + kKey);
    metrics = cli.Get("/metrics")->body;
    server.stop();
    serving.join();
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(log);
  }
  const std::string logged = testing::read_text(log_path);
  EXPECT_GE(std::count(logged.begin(), logged.end(), '\n'), 28) << logged;  // one line a request
  EXPECT_NE(logged.find("\"path\":\"/v1/classify\""), std::string::npos) << logged;
  expect_no_key("access log", logged);
  EXPECT_NE(metrics.find("refusal_requests_total"), std::string::npos) << metrics;
  expect_no_key("/metrics", metrics);
}

}  // namespace
}  // namespace refusal::server
