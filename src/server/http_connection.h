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
//
// Idle connections hold no thread. httplib gives each connection a pool thread for its whole
// life, so a thousand idle keep-alive clients (or fresh connections that have sent nothing
// yet) would hold every thread and starve the others. Here a thread serves the requests a
// connection has ready, then parks the connection in one epoll set and goes back to the pool;
// the connection comes back to the pool when its next bytes arrive, or is closed when its
// idle time (keep_alive_timeout, or read_timeout before its first request) runs out.
// `http_threads` bounds the requests being read and answered at once, not the connections.
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

class ConnectionQueue;

class GuardedHttpServer : public httplib::Server {
 public:
  GuardedHttpServer(const ConnectionLimits& limits, std::size_t threads);
  ~GuardedHttpServer() override;

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
  // Open connections waiting for their next request without a thread.
  std::size_t connections_parked() const;

 private:
  friend class ConnectionQueue;
  bool process_and_close_socket(socket_t sock) override;
  // Serves the requests of `sock` that are ready, the next being its `served`-th; then parks it
  // or closes it.
  void serve(socket_t sock, std::size_t served);

  ConnectionLimits limits_;
  std::size_t threads_;
  ConnectionQueue* queue_ = nullptr;  // made by new_task_queue, owned by httplib's listen()
  std::atomic<std::size_t> parked_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> close_each_{false};
  std::atomic<std::size_t> in_flight_{0};
  socket_t listen_socket_ = INVALID_SOCKET;
};

// When the request this thread is answering began (its first byte arrived).
std::chrono::steady_clock::time_point request_started_at();

}  // namespace refusal::server
