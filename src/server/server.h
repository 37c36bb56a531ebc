// `refusal serve`: LLM Guard's API (/analyze/output, /scan/output), TEI's /predict, the native
// /v1/classify, /metrics, /openapi.json and a web page, over one dynamically batched engine.
// docs/server.md describes every endpoint, setting and limit.
#pragma once

#include <cstddef>
#include <functional>
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

  // The graceful stop of a serving server (docs/server.md#stopping), run on another thread than
  // serve(): at once /readyz answers 503 and every answer carries `Connection: close`, while the
  // server keeps accepting and answering for config().shutdown_delay seconds; then stop(), and
  // wait for serve() to return, at most config().drain_timeout seconds (0: no limit).
  // `stop_requests()` counts the stop requests (signals) so far: one more than when this began
  // cuts the delay and the drain short. Returns the requests still unanswered (0 also when
  // serve() has returned: everything accepted was answered). When it gave up, serve() may not
  // have returned yet: the caller exits without waiting for it.
  std::size_t shut_down(const std::function<unsigned()>& stop_requests);
  // Requests read and not yet answered.
  std::size_t requests_in_flight() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace refusal::server
