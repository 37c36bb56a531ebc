// cpp-httplib's server with our own connection loop: the one place that reaches past
// httplib's public API. It overrides Server::process_and_close_socket and calls the protected
// Server::process_request, because no public hook of cpp-httplib 0.11 (Debian bookworm) gives
// what docs/server.md promises and tests/server checks:
//  - a deadline to receive one whole request (request_read_timeout): set_read_timeout bounds
//    the silence before each read only, so a client sending a byte a second holds a thread;
//  - an answer on every connection accepted before stop(): httplib's loop checks the listening
//    socket before reading even the first request and closes the connection unanswered, and
//    its keep-alive wait does not notice stop() for up to keep_alive_timeout;
//  - pipelined requests: httplib reads each request through a new SocketStream, so the bytes
//    of a next request already buffered by the previous one are lost.
// Everything else (timeouts, payload limit, socket options, the listen backlog) goes through
// public setters.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

namespace refusal::server {

struct ConnectionLimits {
  double read_timeout = 5.0;           // s of silence from the client
  double write_timeout = 5.0;          // s without the client taking a byte
  double request_read_timeout = 10.0;  // s to receive one whole request
  double keep_alive_timeout = 5.0;     // s an idle keep-alive connection is kept
  std::size_t keep_alive_max = 1000;   // requests per connection
};

class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(const ConnectionLimits& limits);

  // Binds host:port (0: a free one) with SO_REUSEADDR only (httplib's default adds
  // SO_REUSEPORT, which would let a second server share this port's connections) and a listen
  // backlog of `backlog`. Returns the port, or -1 (errno set).
  int bind_with_backlog(const std::string& host, int port, int backlog);
  // Stops accepting connections; those already accepted get their request answered.
  void stop_accepting();
  // From now on every answer carries `Connection: close` (a stopping server's keep-alive
  // clients reconnect, through their load balancer, to another replica).
  void close_after_each_answer();
  // Requests read and not yet answered.
  std::size_t requests_in_flight() const;

 private:
  bool process_and_close_socket(socket_t sock) override;

  ConnectionLimits limits_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> close_each_{false};
  std::atomic<std::size_t> in_flight_{0};
  socket_t listen_socket_ = INVALID_SOCKET;
};

// When the request this thread is answering began (its first byte arrived).
std::chrono::steady_clock::time_point request_started_at();

}  // namespace refusal::server
