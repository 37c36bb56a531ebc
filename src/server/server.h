// `refusal serve`: LLM Guard's API (/analyze/output, /scan/output), TEI's /predict, the native
// /v1/classify, /metrics, /openapi.json and a web page, over one dynamically batched engine.
// docs/server.md describes every endpoint, setting and limit.
#pragma once

#include <memory>

#include "refusal/engine.h"
#include "refusal/tokenizer.h"
#include "server/config.h"

namespace refusal::server {

class Server {
 public:
  // Loads config.model.
  explicit Server(ServerConfig config);
  // Serves an already loaded model (tests).
  Server(ServerConfig config, std::shared_ptr<const Engine> engine, Tokenizer tokenizer);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds config.host:config.port (port 0: a free one) and returns the port. Throws
  // refusal::Error when the address cannot be bound.
  int bind();
  // Answers requests until stop(); then lets every accepted request finish and returns.
  void serve();
  // Stops accepting connections; serve() returns once in-flight requests are answered.
  // Safe to call from any thread, more than once.
  void stop();
  int port() const;
  const ServerConfig& config() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace refusal::server
