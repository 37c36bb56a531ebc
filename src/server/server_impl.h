// What the route files share: the server's state and the classify-through-the-batcher helper.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/engine.h"
#include "refusal/scanner_rules.h"
#include "refusal/tokenizer.h"
#include "server/batcher.h"
#include "server/config.h"
#include "server/lru_cache.h"
#include "server/metrics.h"
#include "server/server.h"

namespace refusal::server {

// The answers of one batched classification.
struct Outcome {
  enum class Status { kOk, kQueueFull, kTimeout } status = Status::kOk;
  std::vector<Verdict> verdicts;
  std::vector<Classification> outputs;  // raw-ids work
  std::vector<std::string> errors;      // per item; empty when fine
  int retry_after = 1;
};

// How a Bearer header compares with the configured keys.
enum class AuthResult { kOk, kMissing, kWrongScheme, kWrongKey };

class GuardedHttpServer;

struct Server::Impl {
  ServerConfig config;
  std::shared_ptr<const Engine> engine;
  Tokenizer tokenizer;
  Metrics metrics;
  std::unique_ptr<Batcher> batcher;
  LruCache<Verdict> verdict_cache;
  LruCache<Classification> output_cache;
  std::shared_ptr<const Classifier> llm_guard;  // the NoRefusal scanner's settings
  std::unique_ptr<GuardedHttpServer> http;
  int bound_port = -1;
  std::atomic<bool> serving{false};
  std::atomic<bool> stop_requested{false};
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();

  std::mutex classifiers_mu;
  std::map<std::string, std::shared_ptr<const Classifier>> classifiers;
  std::once_flag punkt_once;
  std::optional<PunktParameters> punkt;

  Impl(ServerConfig c, std::shared_ptr<const Engine> e, Tokenizer t);

  // A classifier with these options (shared by requests that ask for the same ones).
  std::shared_ptr<const Classifier> classifier_for(const ClassifierOptions& options);
  static std::string options_key(const ClassifierOptions& options);

  // Classifies through the cache and the batcher; waits up to the request timeout.
  Outcome classify(const std::shared_ptr<const Classifier>& classifier,
                   std::vector<std::string> texts, std::chrono::steady_clock::time_point deadline);
  // Token ids straight to the engine (TEI), cached under `cache_keys`.
  Outcome run_ids(std::vector<std::vector<std::int32_t>> ids, std::vector<std::string> cache_keys,
                  std::chrono::steady_clock::time_point deadline);

  AuthResult check_bearer(const httplib::Request& req) const;
  std::chrono::steady_clock::time_point deadline() const;
  const PunktParameters& punkt_params();

  void register_llm_guard_routes(httplib::Server& http);
  void register_tei_routes(httplib::Server& http);
  void register_native_routes(httplib::Server& http);
  void register_misc_routes(httplib::Server& http);
};

// Body for an error the HTTP layer produced (404, 405, 413, 400): each API's own shape.
std::string route_family(const std::string& path);  // "llm_guard", "tei", "native", "other"
void set_json(httplib::Response& res, int status, const std::string& body);

// The web page and the OpenAPI document.
const std::string& web_page_html();
std::string openapi_json(const ServerConfig& config);

}  // namespace refusal::server
