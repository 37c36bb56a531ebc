// The routes without a socket: each API's parse and render steps on bytes and plain values,
// the one auth check on every route that needs it, and the route table's 404 / 405 answers.
// (server_test.cpp checks the same APIs over real HTTP.)
#include "server/routes.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/utf8.h"
#include "refusal/engine.h"
#include "refusal/model.h"
#include "refusal/tokenizer.h"
#include "server/auth.h"
#include "server/routes_llm_guard.h"
#include "server/routes_native.h"
#include "server/routes_tei.h"
#include "server/services.h"

namespace refusal::server {
namespace {

using nlohmann::json;

const char* kModel = "tests/data/models/random-roberta-tok";

std::unique_ptr<Services> make_services(ServerConfig config) {
  const ModelFiles files = resolve_model(kModel);
  auto engine = std::make_shared<const Engine>(Engine::load(files, {.threads = 1}));
  config.model = kModel;
  return std::make_unique<Services>(std::move(config), std::move(engine),
                                    Tokenizer::from_model_folder(files.folder));
}

template <class Request>
const Request& ok(const Parsed<Request>& parsed) {
  if (const auto* error = std::get_if<HttpResponse>(&parsed)) {
    ADD_FAILURE() << "refused: " << error->status << " " << error->body;
    static const Request none{};
    return none;
  }
  return std::get<Request>(parsed);
}

template <class Request>
HttpResponse refused(const Parsed<Request>& parsed) {
  if (const auto* error = std::get_if<HttpResponse>(&parsed)) return *error;
  ADD_FAILURE() << "accepted";
  return {};
}

HttpRequestView post(std::string_view path, std::string_view body,
                     std::string_view authorization = "") {
  return {.method = "POST",
          .path = path,
          .body = body,
          .content_type = "application/json",
          .authorization = authorization};
}

HttpRequestView get(std::string_view path) { return {.method = "GET", .path = path}; }

// ---- the auth check ----

TEST(Auth, ConstantTimeEqualComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("secret-key", "secret-key"));
  EXPECT_FALSE(constant_time_equal("secret-kez", "secret-key"));
  EXPECT_FALSE(constant_time_equal("Secret-key", "secret-key"));
  EXPECT_FALSE(constant_time_equal("secret", "secret-key"));        // a prefix
  EXPECT_FALSE(constant_time_equal("secret-key-2", "secret-key"));  // longer
  // Same bytes repeated: the key's bytes cycle over a longer input, but the lengths differ.
  EXPECT_FALSE(constant_time_equal("abab", "ab"));
  EXPECT_FALSE(constant_time_equal("", "k"));
  EXPECT_FALSE(constant_time_equal("k", ""));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(Auth, BearerHeaderAgainstEveryKey) {
  const std::vector<std::string> keys = {"k1", "second-key"};
  EXPECT_EQ(check_bearer("", {}), AuthResult::kOk);  // no keys: no auth
  EXPECT_EQ(check_bearer("Bearer k1", keys), AuthResult::kOk);
  EXPECT_EQ(check_bearer("Bearer second-key", keys), AuthResult::kOk);
  EXPECT_EQ(check_bearer("bearer k1", keys), AuthResult::kOk);  // scheme case, as FastAPI
  EXPECT_EQ(check_bearer("", keys), AuthResult::kMissing);
  EXPECT_EQ(check_bearer("Bearer", keys), AuthResult::kMissing);
  EXPECT_EQ(check_bearer("Bearer ", keys), AuthResult::kMissing);
  EXPECT_EQ(check_bearer("Basic k1", keys), AuthResult::kWrongScheme);
  EXPECT_EQ(check_bearer("Bearerk1 x", keys), AuthResult::kWrongScheme);
  EXPECT_EQ(check_bearer("Bearer k2", keys), AuthResult::kWrongKey);
  EXPECT_EQ(check_bearer("Bearer k", keys), AuthResult::kWrongKey);
  EXPECT_EQ(check_bearer("Bearer k1 ", keys), AuthResult::kWrongKey);
  EXPECT_EQ(check_bearer("Bearer  k1", keys), AuthResult::kWrongKey);
}

// A body each POST route accepts.
std::string good_body(std::string_view path) {
  if (path == "/predict") return R"({"inputs":"hello"})";
  if (path == "/v1/classify") return R"({"text":"hello"})";
  return R"({"prompt":"p","output":"hello"})";
}

TEST(Auth, EveryPostRouteNeedsTheKeyInItsApisShape) {
  ServerConfig config;
  config.api_keys = {"k1", "k2"};
  auto services = make_services(config);
  std::set<std::string_view> guarded;
  for (const Route& route : routes()) {
    SCOPED_TRACE(std::string(route.method) + " " + std::string(route.path));
    EXPECT_EQ(route.needs_auth, route.method == "POST");
    if (!route.needs_auth) {
      EXPECT_NE(answer(get(route.path), *services).status, 401);
      continue;
    }
    guarded.insert(route.path);
    const std::string body = good_body(route.path);
    for (const char* key : {"Bearer k1", "Bearer k2"}) {
      EXPECT_EQ(answer(post(route.path, body, key), *services).status, 200);
    }
    const HttpResponse missing = answer(post(route.path, body), *services);
    const HttpResponse scheme = answer(post(route.path, body, "Basic k1"), *services);
    const HttpResponse wrong = answer(post(route.path, body, "Bearer k3"), *services);
    if (route.family == ApiFamily::kLlmGuard) {
      EXPECT_EQ(missing.status, 403);
      EXPECT_EQ(missing.body, R"({"message":"Not authenticated","details":null})");
      EXPECT_EQ(scheme.status, 403);
      EXPECT_EQ(scheme.body, R"({"message":"Invalid authentication credentials","details":null})");
      EXPECT_EQ(wrong.status, 401);
      EXPECT_EQ(wrong.body, R"({"message":"Invalid API key","details":null})");
    } else if (route.family == ApiFamily::kTei) {
      for (const auto& r : {missing, scheme, wrong}) {
        EXPECT_EQ(r.status, 401);
        EXPECT_EQ(r.body, "");
      }
    } else {
      for (const auto& r : {missing, scheme, wrong}) {
        EXPECT_EQ(r.status, 401);
        EXPECT_EQ(r.body, R"x({"error":"missing or invalid API key (Authorization: Bearer KEY)",)x"
                          R"("error_type":"unauthorized"})");
        ASSERT_NE(r.header("WWW-Authenticate"), nullptr);
      }
    }
  }
  EXPECT_EQ(guarded, (std::set<std::string_view>{"/analyze/output", "/scan/output", "/predict",
                                                 "/v1/classify"}));
}

TEST(Auth, LlmGuardDecodesTheBodyBeforeCheckingTheKey) {
  ServerConfig config;
  config.api_keys = {"k"};
  auto services = make_services(config);
  // FastAPI: a malformed body is a 422 even without a key; a well-formed one is a 403.
  const HttpResponse r = answer(post("/scan/output", R"({"prompt": )"), *services);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("json_invalid"), std::string::npos) << r.body;
  EXPECT_EQ(answer(post("/scan/output", R"({"prompt":5})"), *services).status, 403);
  // TEI and native check the key first.
  EXPECT_EQ(answer(post("/predict", "{"), *services).status, 401);
  EXPECT_EQ(answer(post("/v1/classify", "{"), *services).status, 401);
}

// ---- the route table ----

TEST(RouteTable, UnknownPathsAndOtherMethodsInEachApisShape) {
  auto services = make_services({});
  HttpResponse r = answer(get("/nope"), *services);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"message":"Not Found","details":null})");
  r = answer(get("/v1/nope"), *services);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, R"({"error":"Not Found","error_type":"http"})");
  r = answer(get("/analyze/output"), *services);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.body, R"({"message":"Method Not Allowed","details":null})");
  ASSERT_NE(r.header("Allow"), nullptr);
  EXPECT_EQ(*r.header("Allow"), "POST");
  r = answer(get("/predict"), *services);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.body, "");
  r = answer(get("/v1/classify"), *services);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.body, R"({"error":"Method Not Allowed","error_type":"http"})");
  r = answer(post("/healthz", "{}"), *services);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(*r.header("Allow"), "GET");
  r = answer({.method = "HEAD", .path = "/healthz"}, *services);
  EXPECT_EQ(r.status, 200);
  r = answer({.method = "GET", .path = "/", .accept = "text/html"}, *services);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(answer(get("/"), *services).body, R"({"name":"LLM Guard API"})");
}

TEST(RouteTable, MetricsLabelsAndOpenApiComeFromTheTable) {
  EXPECT_EQ(metrics_route_label("/predict"), "/predict");
  EXPECT_EQ(metrics_route_label("/v1/anything"), "other");
  EXPECT_EQ(metrics_route_label("/x"), "other");
  EXPECT_EQ(family_of_path("/predict"), ApiFamily::kTei);
  EXPECT_EQ(family_of_path("/v1/x"), ApiFamily::kNative);
  EXPECT_EQ(family_of_path("/x"), ApiFamily::kLlmGuard);
  ServerConfig config;
  const json doc = json::parse(openapi_json(config));
  std::size_t operations = 0;
  for (const auto& [path, methods] : doc["paths"].items()) operations += methods.size();
  EXPECT_EQ(operations, routes().size());
  for (const Route& r : routes()) {
    std::string method(r.method);
    for (auto& c : method) c = static_cast<char>(std::tolower(c));
    const json& op = doc["paths"][std::string(r.path)][method];
    EXPECT_EQ(op["summary"], std::string(r.summary));
    EXPECT_EQ(op.contains("requestBody"), r.method == "POST") << r.path;
  }
  const json& schema =
      doc["paths"]["/scan/output"]["post"]["requestBody"]["content"]["application/json"]["schema"];
  EXPECT_EQ(schema["required"], json::array({"prompt", "output"}));
  EXPECT_FALSE(doc.contains("components"));
  config.api_keys = {"k"};
  EXPECT_TRUE(json::parse(openapi_json(config)).contains("components"));
}

// ---- LLM Guard ----

TEST(LlmGuardParse, ValidBodies) {
  auto r = ok(parse_llm_guard_request(
      R"({"prompt":"p","output":"o","scanners_suppress":["NoRefusal"]})", "application/json", 100));
  EXPECT_EQ(r.prompt, "p");
  EXPECT_EQ(r.output, "o");
  EXPECT_EQ(r.scanners_suppress, std::vector<std::string>{"NoRefusal"});
  // No Content-Type and application/*+json are JSON to FastAPI too.
  EXPECT_EQ(ok(parse_llm_guard_request(R"({"prompt":"","output":"x"})", "", 100)).output, "x");
  EXPECT_EQ(ok(parse_llm_guard_request(R"({"prompt":"","output":"x"})",
                                       "Application/Problem+JSON; charset=utf-8", 100))
                .output,
            "x");
}

TEST(LlmGuardParse, EachKindOfBadBody) {
  struct Case {
    std::string body;
    std::string content_type;
    int status;
    std::string response;
  };
  const std::vector<Case> cases = {
      {"", "application/json", 422,
       R"({"message":"Validation failed","details":[{"type":"missing","loc":["body"],)"
       R"("msg":"Field required","input":null}]})"},
      {"[1]", "application/json", 422,
       R"({"message":"Validation failed","details":[{"type":"model_attributes_type",)"
       R"("loc":["body"],"msg":"Input should be a valid dictionary or object to extract )"
       R"(fields from","input":[1]}]})"},
      {R"({"prompt":"p"})", "application/json", 422,
       R"({"message":"Validation failed","details":[{"type":"missing","loc":["body","output"],)"
       R"("msg":"Field required","input":{"prompt":"p"}}]})"},
      {R"({"prompt":1,"output":"o","scanners_suppress":[2]})", "application/json", 422,
       R"({"message":"Validation failed","details":[{"type":"string_type",)"
       R"("loc":["body","prompt"],"msg":"Input should be a valid string","input":1},)"
       R"({"type":"string_type","loc":["body","scanners_suppress",0],)"
       R"("msg":"Input should be a valid string","input":2}]})"},
      {R"({"prompt":"p","output":"o","scanners_suppress":"x"})", "application/json", 422,
       R"({"message":"Validation failed","details":[{"type":"list_type",)"
       R"("loc":["body","scanners_suppress"],"msg":"Input should be a valid list","input":"x"}]})"},
      {R"({"prompt":"p","output":"o"})", "text/plain", 422,
       R"({"message":"Validation failed","details":[{"type":"model_attributes_type",)"
       R"("loc":["body"],"msg":"Input should be a valid dictionary or object to extract )"
       R"(fields from","input":"{\"prompt\":\"p\",\"output\":\"o\"}"}]})"},
      {R"({"prompt": x})", "application/json", 422,
       R"({"message":"Validation failed","details":[{"type":"json_invalid","loc":["body",11],)"
       R"("msg":"JSON decode error","input":{},"ctx":{"error":"Expecting value"}}]})"},
      {"{\"prompt\":\"\xff\"}", "application/json", 400,
       R"({"message":"There was an error parsing the body","details":null})"},
      {std::string(100000, '[') + std::string(100000, ']'), "application/json", 400,
       R"({"message":"There was an error parsing the body","details":null})"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 60));
    const HttpResponse r = refused(parse_llm_guard_request(c.body, c.content_type, 100));
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.body, c.response);
    EXPECT_EQ(r.content_type, "application/json");
    // The part FastAPI checks before the key gives the same answers for the decoding errors.
    if (c.status == 400 || c.response.find("json_invalid") != std::string::npos) {
      const auto early = llm_guard_body_error(c.body, c.content_type);
      ASSERT_TRUE(early.has_value());
      EXPECT_EQ(early->body, c.response);
    } else {
      EXPECT_FALSE(llm_guard_body_error(c.body, c.content_type).has_value());
    }
  }
}

TEST(LlmGuardParse, TextLimitIsPydanticsStringTooLong) {
  const HttpResponse r = refused(parse_llm_guard_request(
      R"({"prompt":"ééé","output":"ok"})", "application/json", 2));  // code points, not bytes
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.body, R"({"message":"Validation failed","details":[{"type":"string_too_long",)"
                    R"("loc":["body","prompt"],"msg":"String should have at most 2 characters",)"
                    R"("input":"ééé","ctx":{"max_length":2}}]})");
  EXPECT_EQ(ok(parse_llm_guard_request(R"({"prompt":"éé","output":"ok"})", "", 2)).prompt, "éé");
}

TEST(LlmGuardRender, AnswersAndErrors) {
  const LlmGuardRequest request{.prompt = "p", .output = "a \"quoted\"\nanswer"};
  LlmGuardResult result;
  result.is_valid = false;
  result.scanners = {{"NoRefusal", 1.0}, {"NoRefusalLight", -0.0}};
  HttpResponse r = render_llm_guard(request, LlmGuardRoute::kAnalyzeOutput, result);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"is_valid":false,"scanners":{"NoRefusal":1.0,"NoRefusalLight":-0.0},)"
                    R"("sanitized_output":"a \"quoted\"\nanswer"})");
  r = render_llm_guard(request, LlmGuardRoute::kScanOutput, result);
  EXPECT_EQ(r.body, R"({"is_valid":false,"scanners":{"NoRefusal":1.0,"NoRefusalLight":-0.0}})");
  result.status = LlmGuardResult::Status::kQueueFull;
  result.retry_after = 7;
  r = render_llm_guard(request, LlmGuardRoute::kScanOutput, result);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, R"({"message":"Too Many Requests","details":null})");
  ASSERT_NE(r.header("Retry-After"), nullptr);
  EXPECT_EQ(*r.header("Retry-After"), "7");
  result.status = LlmGuardResult::Status::kTimeout;
  r = render_llm_guard(request, LlmGuardRoute::kScanOutput, result);
  EXPECT_EQ(r.status, 408);
  EXPECT_EQ(r.body, R"({"message":"Request timeout.","details":null})");
}

TEST(LlmGuardHandle, ScannersInOrderWithSuppressionAndBlankOutput) {
  ServerConfig config;
  config.scanners = {"NoRefusalLight", "NoRefusal"};
  auto services = make_services(config);
  const auto deadline = services->deadline(std::chrono::steady_clock::now());
  LlmGuardRequest request{.output = "I'm sorry, I can't."};
  LlmGuardResult r = handle_llm_guard(request, LlmGuardRoute::kScanOutput, *services, deadline);
  ASSERT_EQ(r.status, LlmGuardResult::Status::kOk);
  ASSERT_EQ(r.scanners.size(), 2u);
  EXPECT_EQ(r.scanners[0], (std::pair<std::string, double>{"NoRefusalLight", 1.0}));
  EXPECT_EQ(r.scanners[1].first, "NoRefusal");
  // NoRefusal's risk is the library's llm-guard verdict (threshold and length from the preset).
  std::string_view text = request.output;
  const Verdict v = services->no_refusal()->classify({&text, 1})[0];
  EXPECT_EQ(r.scanners[1].second, v.risk_score);
  EXPECT_EQ(services->no_refusal()->threshold(), 0.75);
  EXPECT_EQ(services->no_refusal()->max_length(), 128u);
  EXPECT_FALSE(r.is_valid);
  request.scanners_suppress = {"NoRefusalLight"};
  r = handle_llm_guard(request, LlmGuardRoute::kScanOutput, *services, deadline);
  ASSERT_EQ(r.scanners.size(), 1u);
  EXPECT_EQ(r.scanners[0].first, "NoRefusal");
  // Blank output: /analyze/output runs no scanner, /scan/output gives NoRefusal's -1.0.
  request = {.output = " \n"};
  r = handle_llm_guard(request, LlmGuardRoute::kAnalyzeOutput, *services, deadline);
  EXPECT_TRUE(r.scanners.empty());
  EXPECT_TRUE(r.is_valid);
  r = handle_llm_guard(request, LlmGuardRoute::kScanOutput, *services, deadline);
  ASSERT_EQ(r.scanners.size(), 2u);
  EXPECT_EQ(r.scanners[1], (std::pair<std::string, double>{"NoRefusal", -1.0}));
}

// ---- TEI ----

const TeiLimits kTeiLimits{.max_client_batch_size = 2, .max_text_chars = 10};

TEST(TeiParse, RequestForms) {
  auto r = ok(parse_tei_request(R"({"inputs":"héllo"})", "application/json", kTeiLimits));
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].first, "héllo");
  EXPECT_FALSE(r.inputs[0].second);
  EXPECT_FALSE(r.batch);
  EXPECT_EQ(r.chars, 5u);
  r = ok(parse_tei_request(R"({"inputs":["a"]})", "application/json", kTeiLimits));
  EXPECT_FALSE(r.batch);
  EXPECT_FALSE(r.inputs[0].second);
  r = ok(parse_tei_request(R"({"inputs":["a","b"],"raw_scores":true})", "application/json",
                           kTeiLimits));
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].second, "b");
  EXPECT_TRUE(r.raw_scores);
  r = ok(parse_tei_request(
      R"({"inputs":[["a"],["b","c"]],"truncate":true,"truncation_direction":"Left"})",
      "application/json; charset=utf-8", kTeiLimits));
  EXPECT_TRUE(r.batch);
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[1].second, "c");
  EXPECT_TRUE(r.truncate);
  EXPECT_TRUE(r.truncate_left);
  EXPECT_EQ(r.chars, 3u);
  // auto_truncate is the default; null is the default too.
  TeiLimits truncating = kTeiLimits;
  truncating.auto_truncate = true;
  EXPECT_TRUE(
      ok(parse_tei_request(R"({"inputs":"a","truncate":null})", "application/json", truncating))
          .truncate);
}

TEST(TeiParse, EachKindOfBadBody) {
  struct Case {
    std::string body;
    std::string content_type;
    int status;
    std::string response;  // "" : only the status is checked
  };
  const std::string prefix = "Failed to deserialize the JSON body into the target type: ";
  const std::vector<Case> cases = {
      {R"({"inputs":"a"})", "text/plain", 415,
       "Expected request with `Content-Type: application/json`"},
      {R"({"inputs":"a")", "application/json", 400, ""},
      {"{\"inputs\":\"\xff\"}", "application/json", 400,
       "Failed to parse the request body as JSON: invalid UTF-8"},
      {"[]", "application/json", 422, prefix + "invalid type, expected struct PredictRequest"},
      {R"({"input":"a"})", "application/json", 422, prefix + "missing field `inputs`"},
      {R"({"inputs":[]})", "application/json", 422, ""},
      {R"({"inputs":["a","b","c"]})", "application/json", 422, ""},
      {R"({"inputs":[["a"],"b"]})", "application/json", 422,
       prefix + "inputs: invalid type, expected a sequence"},
      {R"({"inputs":[[1]]})", "application/json", 422,
       prefix + "inputs: invalid type, expected a string"},
      {R"({"inputs":"a","truncate":"yes"})", "application/json", 422,
       prefix + "truncate: invalid type, expected a boolean"},
      {R"({"inputs":"a","truncation_direction":"Up"})", "application/json", 422,
       prefix + "truncation_direction: unknown variant, expected `Left` or `Right`"},
      {R"({"inputs":[["a"],["b"],["c"]]})", "application/json", 413,
       R"({"error":"batch size 3 > maximum allowed batch size 2","error_type":"validation"})"},
      {R"({"inputs":""})", "application/json", 413,
       R"({"error":"Input validation error: `inputs` cannot be empty","error_type":"validation"})"},
      {R"({"inputs":["abcdef","ghijk"]})", "application/json", 413,
       R"({"error":"Input validation error: `inputs` must have less than 10 characters",)"
       R"("error_type":"validation"})"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    const HttpResponse r = refused(parse_tei_request(c.body, c.content_type, kTeiLimits));
    EXPECT_EQ(r.status, c.status);
    if (!c.response.empty()) {
      EXPECT_EQ(r.body, c.response);
    }
    EXPECT_EQ(r.content_type, c.status == 413 ? "application/json" : "text/plain; charset=utf-8");
  }
}

TEST(TeiRender, EveryLabelHighestFirstWithComputeHeaders) {
  const std::vector<std::string> labels = {"NORMAL", "REJECTION"};
  TeiRequest request;
  request.inputs = {{"a", std::nullopt}, {"b", std::nullopt}};
  request.batch = true;
  request.chars = 2;
  TeiResult result;
  result.outputs.resize(2);
  result.outputs[0].probabilities = {0.25f, 0.75f};
  result.outputs[1].probabilities = {0.5f, 0.5f};  // a tie keeps TEI's order: the later first
  result.tokens = 6;
  HttpResponse r = render_tei(request, result, labels);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"([[{"score":0.75,"label":"REJECTION"},{"score":0.25,"label":"NORMAL"}],)"
                    R"([{"score":0.5,"label":"REJECTION"},{"score":0.5,"label":"NORMAL"}]])");
  EXPECT_EQ(*r.header("x-compute-characters"), "2");
  EXPECT_EQ(*r.header("x-compute-tokens"), "6");
  request.batch = false;
  request.raw_scores = true;
  result.outputs = {Classification{}};
  result.outputs[0].logits = {1e-7f, -2.5f};
  EXPECT_EQ(render_tei(request, result, labels).body,
            R"([{"score":1e-7,"label":"NORMAL"},{"score":-2.5,"label":"REJECTION"}])");
  result.outputs[0].logits = {std::numeric_limits<float>::quiet_NaN(), 0.0f};
  r = render_tei(request, result, labels);
  EXPECT_EQ(r.status, 424);
  EXPECT_EQ(r.body, R"({"error":"score is NaN","error_type":"backend"})");
  result.error = ApiError{429, "Model is overloaded", "overloaded", 3};
  r = render_tei(request, result, labels);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, R"({"error":"Model is overloaded","error_type":"overloaded"})");
  EXPECT_EQ(*r.header("Retry-After"), "3");
}

TEST(TeiHandle, TooManyTokensWithoutTruncateIs413) {
  auto services = make_services({});
  TeiRequest request;
  std::string text;
  for (int i = 0; i < 300; ++i) text += "word" + std::to_string(i) + " ";
  request.inputs = {{text, std::nullopt}};
  const auto deadline = services->deadline(std::chrono::steady_clock::now());
  TeiResult r = handle_tei(request, *services, deadline);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->status, 413);
  EXPECT_EQ(r.error->message.rfind("Input validation error: `inputs` must have less than 512 "
                                   "tokens. Given: ",
                                   0),
            0u);
  request.truncate = true;
  r = handle_tei(request, *services, deadline);
  ASSERT_FALSE(r.error.has_value());
  EXPECT_EQ(r.tokens, 512u);
  ASSERT_EQ(r.outputs.size(), 1u);
}

// ---- native ----

const NativeLimits kNativeLimits{.max_batch_texts = 2, .max_text_chars = 5};

TEST(NativeParse, OptionsByName) {
  auto r = ok(parse_native_request(
      R"({"texts":["a","b"],"preset":"llm-guard","match":"sentence","long":"windows",)"
      R"("threshold":0.3,"max_length":16,"stride":4,"explain":true,"raw_scores":true,)"
      R"("sentences":true})",
      kNativeLimits));
  EXPECT_EQ(r.texts, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.preset, Preset::kLlmGuard);
  EXPECT_EQ(r.match, MatchMode::kSentence);
  EXPECT_EQ(r.long_text, LongTextMode::kWindows);
  EXPECT_EQ(r.threshold, 0.3);
  EXPECT_EQ(r.max_length, 16u);
  EXPECT_EQ(r.stride, 4u);
  EXPECT_TRUE(r.explain && r.raw_scores && r.sentences);
  r = ok(parse_native_request(R"({"text":"a"})", kNativeLimits));
  EXPECT_EQ(r.preset, Preset::kDefault);
  EXPECT_FALSE(r.threshold.has_value());  // the preset's
  EXPECT_FALSE(r.max_length.has_value());
}

TEST(NativeParse, EachKindOfBadBody) {
  struct Case {
    std::string body;
    int status;
    std::string error;  // "" : only the status is checked
  };
  const std::vector<Case> cases = {
      {"{\"text\":\"\xff\"}", 400, "the body is not valid UTF-8"},
      {R"({"text":)", 400, ""},
      {"[]", 422, "the body must be a JSON object"},
      {R"({"text":"a","colour":1})", 422, "unknown field 'colour'"},
      {R"({"text":"a","texts":["b"]})", 422, "give either 'text' or 'texts'"},
      {"{}", 422, "give either 'text' or 'texts'"},
      {R"({"text":5})", 422, "'text' must be a string"},
      {R"({"texts":"a"})", 422, "'texts' must be an array of strings"},
      {R"({"texts":["a",1]})", 422, "texts[1] must be a string"},
      {R"({"texts":["a","b","c"]})", 422, "'texts' has 3 texts; at most 2 per request"},
      {R"({"text":"a","preset":1})", 422, "'preset' must be a string"},
      {R"({"text":"a","match":"words"})", 422, "match: 'words' is not one of 'full', 'sentence'"},
      {R"({"text":"a","preset":"strict"})", 422, ""},
      {R"({"text":"a","threshold":"0.5"})", 422, "'threshold' must be a number"},
      {R"({"text":"a","threshold":1.5})", 422, "'threshold' must be in [0, 1]"},
      {R"({"text":"a","max_length":2})", 422, "'max_length' must be in [3, 100000]"},
      {R"({"text":"a","stride":-1})", 422, "'stride' must be a whole number"},
      {R"({"text":"a","explain":1})", 422, "'explain' must be true or false"},
      {R"({"texts":["ok","123456"]})", 413, "text 1 is longer than 5 characters"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    const HttpResponse r = refused(parse_native_request(c.body, kNativeLimits));
    EXPECT_EQ(r.status, c.status);
    EXPECT_EQ(r.content_type, "application/json");
    const json body = json::parse(r.body);
    EXPECT_EQ(body["error_type"], c.status == 400 ? "invalid_json" : "validation");
    if (!c.error.empty()) {
      EXPECT_EQ(body["error"], c.error);
    }
  }
}

TEST(NativeParse, ParseErrorsQuotingHalfACharacterStayUtf8) {
  // Found by fuzz_server_requests: nlohmann's "last read: '\xd4'" cut the valid body "Ԯ=" inside
  // its first character, and the error answer failed to serialize (an escaping exception, so
  // a 500 for a 3-byte body). Every 400 is valid UTF-8, with U+FFFD for the cut character.
  for (const std::string body : {"\xd4\xae=", "{\"text\": \xc3\xa9}", "\xf0\x9f\x99\x82"}) {
    SCOPED_TRACE(body);
    const HttpResponse native = refused(parse_native_request(body, kNativeLimits));
    EXPECT_EQ(native.status, 400);
    const json answer = json::parse(native.body);  // throws on invalid UTF-8
    EXPECT_EQ(answer["error"].get<std::string>().rfind("invalid JSON: ", 0), 0u);
    const HttpResponse tei = refused(parse_tei_request(body, "application/json", kTeiLimits));
    EXPECT_EQ(tei.status, 400);
    EXPECT_FALSE(base::first_invalid_utf8(tei.body)) << tei.body;
  }
}

TEST(NativeRender, RecordsPerItemErrorsSentencesAndFailures) {
  ModelConfig model;
  model.labels = {"NORMAL", "REJECTION"};
  NativeRequest request;
  request.texts = {"I am sorry, I can't.", "bad"};
  request.sentences = true;
  NativeResult result;
  Verdict v;
  v.label = "REJECTION";
  v.score = 0.75;
  v.scores = {0.25f, 0.75f};
  v.refusal = true;
  result.texts = {TextResult{v, ""}, TextResult{{}, "text is not valid UTF-8 (byte 2)"}};
  SentenceResult sentence{Sentence{.text = "I am sorry, I can't.", .char_end = 20}, {v, ""}};
  result.sentences = {std::vector<SentenceResult>{sentence}, std::vector<SentenceResult>{}};
  HttpResponse r = render_native(request, result, model);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"results":[{"text":"I am sorry, I can't.","label":"REJECTION","score":0.75,)"
            R"("scores":{"NORMAL":0.25,"REJECTION":0.75},"refusal":true,"truncated":false,)"
            R"("sentences":[{"text":"I am sorry, I can't.","start":0,"end":20,"score":0.75,)"
            R"x("refusal":true}]},{"text":"bad","error":"text is not valid UTF-8 (byte 2)",)x"
            R"("sentences":[]}]})");
  // The keywords preset: NoRefusalLight's records, no model results.
  request.preset = Preset::kKeywords;
  request.sentences = false;
  r = render_native(request, NativeResult{}, model);
  const json keywords = json::parse(r.body)["results"];
  EXPECT_EQ(keywords[0]["text"], "I am sorry, I can't.");
  EXPECT_EQ(keywords[0]["label"], "REJECTION");
  EXPECT_EQ(keywords[0]["matched"], json::array({"sorry", "i am sorry"}));
  EXPECT_FALSE(keywords[0].contains("sentences"));
  EXPECT_EQ(keywords[1]["refusal"], false);
  result.error = ApiError{429, "the queue is full; retry later", "overloaded", 2};
  r = render_native(request, result, model);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.body, R"({"error":"the queue is full; retry later","error_type":"overloaded"})");
  EXPECT_EQ(*r.header("Retry-After"), "2");
}

TEST(NativeHandle, OptionsTheModelCannotTakeAre422) {
  auto services = make_services({});
  NativeRequest request;
  request.texts = {"a"};
  request.max_length = 100000;  // more than the model's 512 positions
  const auto deadline = services->deadline(std::chrono::steady_clock::now());
  const NativeResult r = handle_native(request, *services, deadline);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->status, 422);
  EXPECT_NE(r.error->message.find("max_length"), std::string::npos) << r.error->message;
  request.max_length.reset();
  const NativeResult fine = handle_native(request, *services, deadline);
  EXPECT_FALSE(fine.error.has_value());
  ASSERT_EQ(fine.texts.size(), 1u);
  EXPECT_TRUE(fine.texts[0].ok());
}

}  // namespace
}  // namespace refusal::server
