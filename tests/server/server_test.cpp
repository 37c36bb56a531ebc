// Contract tests for `refusal serve`: a server in this process on a free loopback port,
// answering real HTTP requests.
//  - LLM Guard API: every case recorded from the reference FastAPI app
//    (tests/data/server/llm_guard_api.vectors.json, made by
//    scripts/vectors/record_server_vectors.py) must get the same status code and the same body,
//    byte for byte.
//  - TEI /predict: shapes, orders, f32 forms and errors from TEI's router source.
//  - /v1/classify: the records `refusal classify` writes, byte for byte.
//  - limits: auth, oversize bodies and texts, 429 when the queue is full, 408, slow clients.
#include "server/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "refusal/classifier.h"
#include "refusal/engine.h"
#include "refusal/model.h"
#include "refusal/scanner_rules.h"
#include "refusal/tokenizer.h"
#include "refusal/version.h"
#include "scan/python_emulation.h"
#include "server/json_text.h"
#include "test_support.h"

namespace refusal::server {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

const char* kModel = "tests/data/models/random-roberta-tok";

struct Model {
  std::shared_ptr<const Engine> engine;
  std::shared_ptr<Tokenizer> tokenizer;
};

const Model& model() {
  static const Model m = [] {
    const ModelFiles files = resolve_model(kModel);
    return Model{std::make_shared<const Engine>(Engine::load(files, {.threads = 2})),
                 std::make_shared<Tokenizer>(Tokenizer::from_model_folder(files.folder))};
  }();
  return m;
}

// A server on a free port, serving on its own thread until destroyed.
class Running {
 public:
  explicit Running(ServerConfig c) {
    c.host = "127.0.0.1";
    c.port = 0;
    if (c.model.empty()) c.model = kModel;  // what /info and refusal_build_info name
    c.access_log = false;
    if (c.http_threads == ServerConfig{}.http_threads) c.http_threads = 8;
    server_ = std::make_unique<Server>(c, model().engine, *model().tokenizer);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->serve(); });
  }
  ~Running() {
    server_->stop();
    thread_.join();
  }
  int port() const { return port_; }
  httplib::Client client() const {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_read_timeout(30, 0);
    return cli;
  }
  Server& server() { return *server_; }

 private:
  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::thread thread_;
};

std::string base64_decode(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (unsigned char c : in) {
    int d;
    if (c >= 'A' && c <= 'Z')
      d = c - 'A';
    else if (c >= 'a' && c <= 'z')
      d = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      d = c - '0' + 52;
    else if (c == '+')
      d = 62;
    else if (c == '/')
      d = 63;
    else
      continue;
    val = (val << 6) + d;
    bits += 6;
    if (bits >= 0) {
      out += static_cast<char>((val >> bits) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

// One request on a raw socket (for what httplib's client will not send: no Content-Type).
std::pair<int, std::string> raw_request(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {-1, ""};
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const auto sp = response.find(' ');
  const auto end = response.find("\r\n\r\n");
  if (sp == std::string::npos || end == std::string::npos) return {-1, response};
  return {std::atoi(response.c_str() + sp + 1), response.substr(end + 4)};
}

// ---- LLM Guard API: the recorded reference answers ----

TEST(LlmGuardApi, AnswersEveryRecordedCaseLikeTheReference) {
  const json vectors = testing::read_json("tests/data/server/llm_guard_api.vectors.json");
  std::map<std::string, std::unique_ptr<Running>> servers;
  int checked = 0;
  for (const auto& c : vectors["cases"]) {
    const std::string name = c["name"];
    SCOPED_TRACE(name);
    const bool timeout_case = name.size() > 8 && name.substr(name.size() - 8) == " timeout";
    const double threshold = c["threshold"];
    const bool auth = !c["auth_token"].is_null();
    std::vector<std::string> scanners = {"NoRefusal"};
    if (c.contains("scanners")) scanners = c["scanners"].get<std::vector<std::string>>();
    std::string key = std::to_string(threshold) + (auth ? "a" : "") + (timeout_case ? "t" : "");
    for (const auto& n : scanners) key += "|" + n;
    if (!servers.count(key)) {
      ServerConfig config;
      config.threshold = threshold;
      config.scanners = scanners;
      if (auth) config.api_keys = {c["auth_token"].get<std::string>(), "second-key"};
      if (timeout_case) config.request_timeout = 0.0;  // the reference scanner slept past it
      servers[key] = std::make_unique<Running>(config);
    }
    auto cli = servers[key]->client();
    httplib::Headers headers;
    std::string content_type;
    for (const auto& [h, v] : c["headers"].items()) {
      if (h == "Content-Type") {
        content_type = v;
      } else {
        headers.emplace(h, v.get<std::string>());
      }
    }
    std::string body;
    if (c.contains("body_base64"))
      body = base64_decode(c["body_base64"]);
    else if (!c["body"].is_null())
      body = c["body"];
    if (content_type.empty() && c["method"] == "POST" && !body.empty()) {
      const auto [status, got] =
          raw_request(servers[key]->port(), "POST " + c["path"].get<std::string>() +
                                                " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                                "Content-Length: " +
                                                std::to_string(body.size()) + "\r\n\r\n" + body);
      EXPECT_EQ(status, c["status"].get<int>());
      EXPECT_EQ(got, c["response"].get<std::string>());
      ++checked;
      continue;
    }
    httplib::Result r = c["method"] == "GET"
                            ? cli.Get(c["path"].get<std::string>(), headers)
                            : cli.Post(c["path"].get<std::string>(), headers, body, content_type);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    // Deliberate differences from the reference, which answers these with a plain-text 500
    // ("Internal Server Error"): NaN/Infinity literals and unpaired surrogate escapes are a
    // client's mistake, so they get the API's own 422 json_invalid.
    if (name.find("broken nan") != std::string::npos ||
        name.find("lone surrogate") != std::string::npos) {
      EXPECT_EQ(c["status"], 500);
      EXPECT_EQ(r->status, 422);
      EXPECT_NE(r->body.find("\"json_invalid\""), std::string::npos) << r->body;
      continue;
    }
    EXPECT_EQ(r->status, c["status"].get<int>()) << r->body;
    EXPECT_EQ(r->body, c["response"].get<std::string>());
    if (r->status < 300 || r->status >= 400) {
      EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    }
    ++checked;
  }
  EXPECT_GT(checked, 130);
}

TEST(LlmGuardApi, AcceptsEveryConfiguredKey) {
  ServerConfig config;
  config.api_keys = {"k1", "k2"};
  Running s(config);
  auto cli = s.client();
  for (const char* key : {"k1", "k2"}) {
    auto r = cli.Post("/scan/output", {{"Authorization", std::string("Bearer ") + key}},
                      R"({"prompt":"p","output":""})", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"is_valid":true,"scanners":{"NoRefusal":-1.0}})");
  }
  auto r = cli.Post("/scan/output", {{"Authorization", "Bearer k3"}},
                    R"({"prompt":"p","output":""})", "application/json");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, R"({"message":"Invalid API key","details":null})");
}

TEST(LlmGuardApi, FailFastStopsAtTheFirstInvalidScanner) {
  ServerConfig config;
  config.scanners = {"NoRefusalLight", "NoRefusal"};
  config.fail_fast = true;
  Running s(config);
  const std::string body = R"({"prompt":"p","output":"I'm sorry, I can't."})";
  auto r = s.client().Post("/analyze/output", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(
      r->body,
      R"({"is_valid":false,"scanners":{"NoRefusalLight":1.0},"sanitized_output":"I'm sorry, I can't."})");
  r = s.client().Post("/scan/output", body, "application/json");
  EXPECT_EQ(r->body, R"({"is_valid":false,"scanners":{"NoRefusalLight":1.0}})");
}

TEST(LlmGuardApi, SentenceMatchTypeFromTheConfig) {
  ServerConfig config;
  config.match_type = "sentence";
  config.threshold = 0.5;
  Running s(config);
  auto r = s.client().Post("/analyze/output",
                           R"({"prompt":"p","output":"I cannot do that. It would be unethical."})",
                           "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // The same verdict the library gives with LLM Guard's sentence semantics.
  ClassifierOptions o;
  o.preset = Preset::kLlmGuard;
  o.threshold = 0.5;
  o.match = MatchMode::kSentence;
  o.max_length = 128;
  Classifier c(model().engine, *model().tokenizer, o);
  std::string_view t = "I cannot do that. It would be unethical.";
  const Verdict v = c.classify({&t, 1})[0];
  EXPECT_EQ(r->body, std::string("{\"is_valid\":") + (v.is_valid ? "true" : "false") +
                         ",\"scanners\":{\"NoRefusal\":" + format_python_float(v.risk_score) +
                         "},\"sanitized_output\":\"I cannot do that. It would be unethical.\"}");
}

TEST(Limits, OversizeBodyIs413InEachApisShape) {
  ServerConfig config;
  config.max_body_bytes = 1000;
  Running s(config);
  auto cli = s.client();
  const std::string big = R"({"prompt":"p","output":")" + std::string(5000, 'a') + "\"}";
  auto r = cli.Post("/analyze/output", big, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"message":"Request Entity Too Large","details":null})");
  r = cli.Post("/predict", R"({"inputs":")" + std::string(5000, 'a') + "\"}", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, R"({"error":"Payload Too Large","error_type":"validation"})");
  // The server is still fine.
  r = cli.Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(Limits, TooLongTextIsAValidationError) {
  ServerConfig config;
  config.max_text_chars = 10;
  Running s(config);
  auto r = s.client().Post("/scan/output", R"({"prompt":"p","output":"ééééééééééé"})",
                           "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(
      r->body,
      R"({"message":"Validation failed","details":[{"type":"string_too_long","loc":["body","output"],"msg":"String should have at most 10 characters","input":"ééééééééééé","ctx":{"max_length":10}}]})");
}

TEST(Limits, FullQueueIs429WithRetryAfter) {
  ServerConfig config;
  config.queue_capacity = 2;
  Running s(config);
  auto cli = s.client();
  auto r = cli.Post("/v1/classify", R"({"texts":["a","b","c"]})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_FALSE(r->get_header_value("Retry-After").empty());
  EXPECT_EQ(r->body, R"({"error":"the queue is full; retry later","error_type":"overloaded"})");
  ServerConfig zero;
  zero.queue_capacity = 0;
  Running z(zero);
  r = z.client().Post("/analyze/output", R"({"prompt":"p","output":"hello"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_EQ(r->body, R"({"message":"Too Many Requests","details":null})");
  r = z.client().Post("/predict", R"({"inputs":"hello"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->body, R"({"error":"Model is overloaded","error_type":"overloaded"})");
  // Blank output needs no model: still answered.
  r = z.client().Post("/scan/output", R"({"prompt":"p","output":"  "})", "application/json");
  EXPECT_EQ(r->status, 200);
}

TEST(Limits, SlowClientIsDroppedAtTheRequestDeadline) {
  ServerConfig config;
  config.request_read_timeout = 1.0;
  config.read_timeout = 5.0;
  Running s(config);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(s.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (char ch : request) {  // one byte every 200 ms: never 5 s of silence
    if (::send(fd, &ch, 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) {
      closed = true;
      break;
    }
  }
  ::close(fd);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(closed);
  EXPECT_LT(seconds, 3.0);
}

TEST(Limits, PipelinedRequestsAreAllAnswered) {
  Running s(ServerConfig{});
  const std::string one = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const auto start = std::chrono::steady_clock::now();
  const auto [status, body] = raw_request(
      s.port(), one + one + "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status, 200);
  // raw_request keeps the first response's head; the rest follows in `body`.
  EXPECT_NE(body.find(R"({"status":"ready"})"), std::string::npos) << body;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 2.0);
}

// ---- TEI /predict ----

std::string expected_predictions(const std::vector<std::int32_t>& ids, bool raw) {
  const auto& m = model();
  const auto out = m.engine->classify(std::vector<std::vector<std::int32_t>>{ids})[0];
  const auto& s = raw ? out.logits : out.probabilities;
  std::vector<std::size_t> order = {0, 1};
  std::stable_sort(order.begin(), order.end(), [&](auto a, auto b) { return s[a] < s[b]; });
  std::reverse(order.begin(), order.end());
  std::string r = "[";
  for (std::size_t k = 0; k < order.size(); ++k) {
    r += (k ? "," : "");
    r += "{\"score\":" + format_f32(s[order[k]]) + ",\"label\":\"" +
         m.engine->config().labels[order[k]] + "\"}";
  }
  return r + "]";
}

std::vector<std::int32_t> ids_of(const std::string& text, std::size_t max_length = kNoTruncation) {
  EncodeOptions o;
  o.max_length = max_length;
  return model().tokenizer->encode(text, o).ids;
}

TEST(TeiApi, PredictShapesScoresAndOrder) {
  Running s(ServerConfig{});
  auto cli = s.client();
  const std::string a = "I'm sorry, but I can't help with that.";
  const std::string b = "Sure, here it is.";
  auto r = cli.Post("/predict", json{{"inputs", a}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, expected_predictions(ids_of(a), false));
  // ["a"] is one text, not a batch.
  r = cli.Post("/predict", json{{"inputs", {a}}}.dump(), "application/json");
  EXPECT_EQ(r->body, expected_predictions(ids_of(a), false));
  // A batch, with raw scores.
  r = cli.Post("/predict", json{{"inputs", {{a}, {b}}}, {"raw_scores", true}}.dump(),
               "application/json");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "[" + expected_predictions(ids_of(a), true) + "," +
                         expected_predictions(ids_of(b), true) + "]");
  // A pair: <s> a </s></s> b </s>.
  r = cli.Post("/predict", json{{"inputs", {a, b}}}.dump(), "application/json");
  EXPECT_EQ(r->status, 200);
  EncodeOptions o;
  o.max_length = kNoTruncation;
  EXPECT_EQ(r->body, expected_predictions(model().tokenizer->encode_pair(a, b, o).ids, false));
}

TEST(TeiApi, LongInputsTruncateOrFailLikeTei) {
  Running s(ServerConfig{});
  auto cli = s.client();
  std::string text;
  for (int i = 0; i < 300; ++i) text += "word" + std::to_string(i) + " ";
  const auto all = ids_of(text);
  ASSERT_GT(all.size(), 512u);
  auto r = cli.Post("/predict", json{{"inputs", text}}.dump(), "application/json");
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body,
            "{\"error\":\"Input validation error: `inputs` must have less than 512 "
            "tokens. Given: " +
                std::to_string(all.size()) + "\",\"error_type\":\"validation\"}");
  r = cli.Post("/predict", json{{"inputs", text}, {"truncate", true}}.dump(), "application/json");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, expected_predictions(ids_of(text, 512), false));
  r = cli.Post("/predict",
               json{{"inputs", text}, {"truncate", true}, {"truncation_direction", "Left"}}.dump(),
               "application/json");
  EXPECT_EQ(r->status, 200);
  std::vector<std::int32_t> left = {all.front()};
  left.insert(left.end(), all.end() - 511, all.end());
  EXPECT_EQ(r->body, expected_predictions(left, false));
}

TEST(TeiApi, ErrorsInTeisShapes) {
  ServerConfig config;
  config.max_client_batch_size = 2;
  Running s(config);
  auto cli = s.client();
  auto r = cli.Post("/predict", R"({"inputs":[["a"],["b"],["c"]]})", "application/json");
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body,
            R"({"error":"batch size 3 > maximum allowed batch size 2","error_type":"validation"})");
  r = cli.Post("/predict", R"({"inputs":""})", "application/json");
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(
      r->body,
      R"({"error":"Input validation error: `inputs` cannot be empty","error_type":"validation"})");
  r = cli.Post("/predict", R"({"input":"a"})", "application/json");
  EXPECT_EQ(r->status, 422);
  r = cli.Post("/predict", R"({"inputs":[]})", "application/json");
  EXPECT_EQ(r->status, 422);
  r = cli.Post("/predict", R"({"inputs": "a")", "application/json");
  EXPECT_EQ(r->status, 400);
  r = cli.Post("/predict", R"({"inputs": "a"})", "text/plain");
  EXPECT_EQ(r->status, 415);
  r = cli.Get("/health");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  r = cli.Get("/info");
  const json info = json::parse(r->body);
  EXPECT_EQ(info["model_type"]["classifier"]["id2label"]["1"], "REJECTION");
  EXPECT_EQ(info["max_input_length"], 512);
  EXPECT_EQ(info["max_client_batch_size"], 2);

  ServerConfig keyed;
  keyed.api_keys = {"k"};
  Running k(keyed);
  r = k.client().Post("/predict", R"({"inputs":"a"})", "application/json");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, "");
  r = k.client().Post("/predict", {{"Authorization", "Bearer k"}}, R"({"inputs":"a"})",
                      "application/json");
  EXPECT_EQ(r->status, 200);
}

// ---- /v1/classify: the CLI's records ----

std::string run_cli(const std::string& args) {
  const char* bin = std::getenv("REFUSAL_BINARY");
  if (bin == nullptr) return "";
  std::string out;
  FILE* p = ::popen((std::string(bin) + " classify --model " + kModel + " " + args).c_str(), "r");
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) out += buf.data();
  ::pclose(p);
  return out;
}

TEST(NativeApi, RecordsAreTheClisRecords) {
  if (std::getenv("REFUSAL_BINARY") == nullptr) GTEST_SKIP() << "REFUSAL_BINARY not set";
  Running s(ServerConfig{});
  auto cli = s.client();
  struct Case {
    ordered_json options;
    std::string flags;
  };
  const std::vector<Case> cases = {
      {ordered_json::object(), ""},
      {{{"preset", "llm-guard"}}, "--preset llm-guard"},
      {{{"match", "sentence"}, {"explain", true}}, "--match sentence --explain"},
      {{{"long", "windows"}, {"max_length", 16}, {"explain", true}, {"raw_scores", true}},
       "--long windows --max-length 16 --explain --raw-scores"},
      {{{"threshold", 0.3}}, "--threshold 0.3"},
      {{{"preset", "keywords"}}, "--preset keywords"},
  };
  const std::vector<std::string> texts = {"I'm sorry, but I can't help with that.",
                                          "Sure. Here is the code you asked for, with tests."};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flags);
    ordered_json body = c.options;
    body["texts"] = texts;
    auto r = cli.Post("/v1/classify", body.dump(), "application/json");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    const ordered_json got = ordered_json::parse(r->body);
    std::string lines;
    for (const auto& rec : got["results"]) lines += rec.dump() + "\n";
    EXPECT_EQ(lines, run_cli(c.flags + " \"" + texts[0] + "\" \"" + texts[1] + "\""));
  }
}

TEST(NativeApi, SentencesValidationAndAuth) {
  ServerConfig config;
  config.api_keys = {"k"};
  Running s(config);
  auto cli = s.client();
  httplib::Headers auth = {{"Authorization", "Bearer k"}};
  auto r = cli.Post("/v1/classify", auth,
                    R"({"text":"I cannot do that. It would be unethical.","sentences":true})",
                    "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  const json rec = json::parse(r->body)["results"][0];
  ASSERT_EQ(rec["sentences"].size(), 2u);
  EXPECT_EQ(rec["sentences"][1]["text"], "It would be unethical.");
  EXPECT_EQ(rec["sentences"][1]["start"], 18);
  EXPECT_EQ(rec["sentences"][1]["end"], 40);
  r = cli.Post("/v1/classify", R"({"text":"a"})", "application/json");
  EXPECT_EQ(r->status, 401);
  r = cli.Post("/v1/classify", auth, R"({"text":5})", "application/json");
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(r->body, R"({"error":"'text' must be a string","error_type":"validation"})");
  r = cli.Post("/v1/classify", auth, "{\"text\":\"\xff\"}", "application/json");
  EXPECT_EQ(r->status, 400);
  r = cli.Post("/v1/classify", auth, R"({"text":)", "application/json");
  EXPECT_EQ(r->status, 400);
  r = cli.Post("/v1/classify", auth, R"({"text":"a","match":"words"})", "application/json");
  EXPECT_EQ(r->status, 422);
  r = cli.Post("/v1/classify", auth, R"({"texts":[]})", "application/json");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"results":[]})");
}

// ---- the rest ----

TEST(Misc, MetricsCacheOpenapiPageAndTimeout) {
  Running s(ServerConfig{});
  auto cli = s.client();
  for (int i = 0; i < 3; ++i) {
    cli.Post("/scan/output", R"({"prompt":"p","output":"same text"})", "application/json");
  }
  // A request is counted once its response is written (the access logger), which can be
  // just after the client has read it: poll briefly.
  auto r = cli.Get("/metrics");
  for (int i = 0; i < 100 && r->body.find("code=\"200\"} 3") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r = cli.Get("/metrics");
  }
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("refusal_cache_hits_total 2"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("refusal_requests_total{route=\"/scan/output\",code=\"200\"} 3"),
            std::string::npos);
  EXPECT_NE(r->body.find("refusal_batch_size_bucket"), std::string::npos);
  EXPECT_NE(r->body.find("refusal_queue_depth "), std::string::npos);
  r = cli.Get("/openapi.json");
  const json doc = json::parse(r->body);
  EXPECT_TRUE(doc["paths"].contains("/analyze/output"));
  EXPECT_TRUE(doc["paths"].contains("/predict"));
  r = cli.Get("/", {{"Accept", "text/html,*/*"}});
  EXPECT_NE(r->body.find("<textarea"), std::string::npos);
  r = cli.Get("/");
  EXPECT_EQ(r->body, R"({"name":"LLM Guard API"})");

  ServerConfig t;
  t.request_timeout = 0.0;
  Running slow(t);
  r = slow.client().Post("/v1/classify", R"({"text":"new text"})", "application/json");
  EXPECT_EQ(r->status, 408);
}

TEST(Misc, StopAnswersRequestsInFlight) {
  ServerConfig config;
  config.batch_wait_ms = 1000;  // requests linger in the queue while stop() is called
  auto s = std::make_unique<Running>(config);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  // Each client is made here: a thread slow to start (ThreadSanitizer) must not touch `s`
  // while reset() runs.
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&ok, i, cli = std::make_shared<httplib::Client>(s->client())] {
      auto r = cli->Post("/scan/output",
                         json{{"prompt", "p"}, {"output", "text " + std::to_string(i)}}.dump(),
                         "application/json");
      if (r && r->status == 200) ++ok;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all 8 connected and queued
  s.reset();  // stop() + join: returns once the accepted requests are answered
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load(), 8);
}

// /metrics after a request of each kind: `poll_for` appears once the logger has counted them.
std::string metrics_after(Running& s, const std::string& poll_for) {
  auto cli = s.client();
  auto r = cli.Get("/metrics");
  for (int i = 0; i < 100 && r->body.find(poll_for) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    r = cli.Get("/metrics");
  }
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  return r->body;
}

// The value of the sample line that starts with `sample` ("name{labels}"); NaN when absent.
double sample_value(const std::string& text, const std::string& sample) {
  const auto at = text.find("\n" + sample + " ");
  if (at == std::string::npos) return std::nan("");
  return std::stod(text.substr(at + sample.size() + 2));
}

TEST(Metrics, TeiNamesProcessMetricsAndBuildInfo) {
  ServerConfig config;
  config.queue_capacity = 1;  // a two-input batch does not fit: one 429
  Running s(config);
  auto cli = s.client();
  EXPECT_EQ(cli.Post("/predict", R"({"inputs":"one text"})", "application/json")->status, 200);
  EXPECT_EQ(cli.Post("/predict", R"({"inputs":[["a"],["b"]]})", "application/json")->status, 429);
  EXPECT_EQ(cli.Post("/scan/output", R"({"prompt":"","output":"two"})", "application/json")->status,
            200);
  EXPECT_EQ(cli.Post("/v1/classify", R"({"text":""})", "application/json")->status, 200);
  const std::string m = metrics_after(s, "code=\"200\"} 2");
  // TEI: requests by method, successes, failures by err, the duration of the successes.
  EXPECT_EQ(sample_value(m, "te_request_count{method=\"single\"}"), 3) << m;
  EXPECT_EQ(sample_value(m, "te_request_count{method=\"batch\"}"), 1);
  EXPECT_EQ(sample_value(m, "te_request_success{method=\"single\"}"), 3);
  EXPECT_EQ(sample_value(m, "te_request_failure{err=\"overloaded\"}"), 1);
  EXPECT_EQ(sample_value(m, "te_request_duration_count"), 3);
  EXPECT_EQ(sample_value(m, "te_request_duration_bucket{le=\"+Inf\"}"), 3);
  EXPECT_NE(m.find("te_request_duration_bucket{le=\"1.5e-05\"}"), std::string::npos);
  EXPECT_NE(m.find("# TYPE te_request_count counter\n"), std::string::npos);
  EXPECT_NE(m.find("# TYPE te_request_duration histogram\n"), std::string::npos);
  // The model ran three inputs, in batches of one; the queue is empty now.
  EXPECT_EQ(sample_value(m, "te_request_input_length_count"), 3);
  EXPECT_EQ(sample_value(m, "te_request_input_length_bucket{le=\"512\"}"), 3);
  EXPECT_EQ(m.find("te_request_input_length_bucket{le=\"1024\"}"), std::string::npos);
  EXPECT_EQ(sample_value(m, "te_batch_next_size_bucket{le=\"1\"}"), 3);
  EXPECT_EQ(sample_value(m, "te_batch_next_tokens_count"), 3);
  EXPECT_EQ(sample_value(m, "te_queue_size"), 0);
  EXPECT_NE(m.find("# TYPE te_queue_size gauge\n"), std::string::npos);
  // process_*.
  EXPECT_GT(sample_value(m, "process_cpu_seconds_total"), 0);
  EXPECT_GT(sample_value(m, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(sample_value(m, "process_virtual_memory_bytes"),
            sample_value(m, "process_resident_memory_bytes"));
  EXPECT_GE(sample_value(m, "process_open_fds"), 3);
  EXPECT_GE(sample_value(m, "process_max_fds"), sample_value(m, "process_open_fds"));
  const double now = static_cast<double>(std::time(nullptr));
  const double start = sample_value(m, "process_start_time_seconds");
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 24 * 3600);
  // refusal_build_info.
  const Engine& engine = *model().engine;
  EXPECT_EQ(
      sample_value(m, "refusal_build_info{version=\"" + std::string(version()) + "\",model=\"" +
                          kModel + "\",dtype=\"fp32\",isa=\"" + engine.isa() + "\"}"),
      1)
      << m;
}

TEST(Metrics, PromtoolAcceptsTheExposition) {
  ServerConfig config;
  config.model = "a \"quoted\\\" name";  // label escaping
  Running s(config);
  auto cli = s.client();
  cli.Post("/predict", R"({"inputs":[["a"],["b"]]})", "application/json");
  cli.Post("/scan/output", R"({"prompt":"","output":"two"})", "application/json");
  cli.Post("/v1/classify", R"({"texts":["x","y"]})", "application/json");
  cli.Post("/v1/classify", R"({"texts":"x"})", "application/json");  // 422
  const std::string m = metrics_after(s, "code=\"422\"} 1");
  EXPECT_NE(m.find(R"(model="a \"quoted\\\" name")"), std::string::npos);
  testing::TempDir dir;
  testing::write_text(dir / "metrics.txt", m);
  const std::string cmd = "promtool check metrics < " + (dir / "metrics.txt").string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  for (std::size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;)
    out.append(buf.data(), n);
  const int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status));
  const int code = WEXITSTATUS(status);
  ASSERT_NE(code, 127) << "promtool not found: it is in Debian's prometheus package "
                          "(packages/debian.txt, scripts/setup.sh)";
  // 0: clean; 3: lint remarks only. The only remarks allowed are on TEI's own counter names
  // (kept as TEI writes them, without _total, so that its dashboards work unchanged).
  ASSERT_TRUE(code == 0 || code == 3) << out;
  std::istringstream lines(out);
  int remarks = 0;
  for (std::string line; std::getline(lines, line);) {
    ++remarks;
    const bool tei_name = line.starts_with("te_request_count ") ||
                          line.starts_with("te_request_success ") ||
                          line.starts_with("te_request_failure ");
    const bool naming =
        line.ends_with(R"(counter metrics should have "_total" suffix)") ||
        line.ends_with(R"(non-histogram and non-summary metrics should not have "_count" suffix)");
    EXPECT_TRUE(tei_name && naming) << line;
  }
  EXPECT_EQ(code == 3, remarks > 0) << out;
}

TEST(Misc, ShutDownIsNotReadyAtOnceServesForTheDelayThenDrains) {
  ServerConfig config;
  config.shutdown_delay = 0.6;
  Running s(config);
  auto cli = s.client();
  cli.set_keep_alive(true);
  EXPECT_EQ(cli.Get("/readyz")->status, 200);
  auto r = cli.Post("/scan/output", R"({"prompt":"","output":"x"})", "application/json");
  EXPECT_EQ(r->get_header_value("Connection"), "");  // kept alive
  std::atomic<unsigned> signals{1};
  std::atomic<std::size_t> unanswered{99};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { unanswered = s.server().shut_down([&] { return signals.load(); }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // Not ready, still alive and answering, and asking keep-alive clients to reconnect.
  r = cli.Get("/readyz");
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->body, R"({"status":"shutting down"})");
  EXPECT_EQ(cli.Get("/healthz")->status, 200);
  r = cli.Post("/scan/output", R"({"prompt":"","output":"y"})", "application/json");
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Connection"), "close");
  stopper.join();
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(took, 0.6);
  EXPECT_LT(took, 5.0);
  EXPECT_EQ(unanswered.load(), 0u);
  // It no longer accepts connections.
  httplib::Client late("127.0.0.1", s.port());
  late.set_connection_timeout(1, 0);
  EXPECT_FALSE(late.Get("/healthz"));
}

TEST(Misc, AnotherStopRequestCutsTheDelayShort) {
  ServerConfig config;
  config.shutdown_delay = 30;
  Running s(config);
  std::atomic<unsigned> signals{1};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread stopper([&] { s.server().shut_down([&] { return signals.load(); }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(s.client().Get("/readyz")->status, 503);
  signals = 2;
  stopper.join();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
}

}  // namespace
}  // namespace refusal::server
