#include "server/http_connection.h"

#include <netdb.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace refusal::server {
namespace {

using Clock = std::chrono::steady_clock;

// When the request this thread is answering began (its first byte).
thread_local Clock::time_point t_request_start = Clock::now();

int ms_until(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(std::min<long long>(ms, 1 << 30));
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// A socket stream whose reads stop at a per-request deadline as well as after `read_timeout`
// of silence, so a client that sends one byte a second cannot hold a thread for long.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(int sock, double read_timeout, double write_timeout)
      : sock_(sock),
        read_timeout_ms_(static_cast<int>(read_timeout * 1000)),
        write_timeout_ms_(static_cast<int>(write_timeout * 1000)) {}

  void set_deadline(Clock::time_point d) { deadline_ = d; }
  // Bytes of a pipelined next request already read from the socket.
  bool has_buffered() const { return pos_ < len_; }

  bool is_readable() const override { return pos_ < len_ || poll_for(POLLIN, read_wait_ms()); }
  bool is_writable() const override { return poll_for(POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (pos_ < len_) return take(ptr, size);
    if (!poll_for(POLLIN, read_wait_ms())) return -1;
    if (size >= sizeof buf_) return recv_some(ptr, size);
    const ssize_t n = recv_some(buf_, sizeof buf_);
    if (n <= 0) return n;
    pos_ = 0;
    len_ = static_cast<size_t>(n);
    return take(ptr, size);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    while (true) {
      const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(false, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  int sock_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  Clock::time_point deadline_ = Clock::time_point::max();
  char buf_[16384];
  size_t pos_ = 0, len_ = 0;

  int read_wait_ms() const {
    return deadline_ == Clock::time_point::max() ? read_timeout_ms_
                                                 : std::min(read_timeout_ms_, ms_until(deadline_));
  }
  bool poll_for(short events, int timeout_ms) const {
    if (timeout_ms <= 0) return false;
    pollfd p{sock_, events, 0};
    while (true) {
      const int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      return r > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
    }
  }
  ssize_t take(char* ptr, size_t size) {
    const size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t recv_some(char* ptr, size_t size) {
    while (true) {
      const ssize_t n = ::recv(sock_, ptr, size, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  }
  void address(bool peer, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int r = peer ? ::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len)
                       : ::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len);
    if (r != 0) return;
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                      NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }
};

// Whether `sock` has bytes (or its peer's close) to read now, or within `timeout_ms`.
bool readable_within(socket_t sock, int timeout_ms) {
  pollfd p{sock, POLLIN, 0};
  while (true) {
    const int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

void close_connection(socket_t sock) {
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

}  // namespace

// httplib's task queue for GuardedHttpServer: its thread pool, plus one thread that watches
// the parked idle connections (epoll) and hands each back to the pool when it has bytes to
// read, or closes it when its idle time runs out.
class ConnectionQueue : public httplib::TaskQueue {
 public:
  ConnectionQueue(GuardedHttpServer& server, std::size_t threads)
      : server_(server), pool_(threads) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epoll_ >= 0 && wake_ >= 0) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = wake_;
      if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev) == 0) {
        watcher_ = std::thread([this] { watch(); });
      }
    }
    // Without epoll (never seen) nothing is parked: each connection keeps its thread.
    if (!watcher_.joinable()) finished_ = true;
  }
  ~ConnectionQueue() override {
    shutdown();
    if (epoll_ >= 0) ::close(epoll_);
    if (wake_ >= 0) ::close(wake_);
    server_.queue_ = nullptr;
  }

  void enqueue(std::function<void()> fn) override { pool_.enqueue(std::move(fn)); }

  // httplib calls this once the listening socket is closed: connections parked before their
  // first request may still send it (they are answered, as promised to every connection
  // accepted before stop()); idle keep-alive ones are closed. Then the pool finishes its work.
  void shutdown() override {
    if (shut_down_) return;
    shut_down_ = true;
    {
      std::lock_guard lock(mutex_);
      draining_ = true;
    }
    wake();
    if (watcher_.joinable()) watcher_.join();
    pool_.shutdown();
  }

  // Parks `sock` until it has bytes to read or `until`; false once the watcher has finished
  // (the server is stopping), and the caller then waits on the socket itself.
  bool park(socket_t sock, std::size_t served, Clock::time_point until) {
    std::lock_guard lock(mutex_);
    if (finished_) return false;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = sock;
    if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, sock, &ev) != 0) return false;
    parked_[sock] = Parked{served, until};
    server_.parked_ = parked_.size();
    return true;
  }

 private:
  struct Parked {
    std::size_t served;  // requests answered on this connection so far
    Clock::time_point until;
  };

  void wake() {
    const std::uint64_t one = 1;
    if (wake_ >= 0) [[maybe_unused]]
      auto n = ::write(wake_, &one, sizeof one);
  }

  void watch() {
    std::vector<epoll_event> events(256);
    std::vector<std::pair<socket_t, std::size_t>> ready;
    std::vector<socket_t> expired;
    auto next_sweep = Clock::now();
    bool done = false;
    while (!done) {
      const int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), 100);
      ready.clear();
      expired.clear();
      {
        std::lock_guard lock(mutex_);
        for (int i = 0; i < n; ++i) {
          const int fd = events[static_cast<std::size_t>(i)].data.fd;
          if (fd == wake_) {
            std::uint64_t count = 0;
            [[maybe_unused]] auto r = ::read(wake_, &count, sizeof count);
            continue;
          }
          const auto it = parked_.find(fd);
          if (it == parked_.end()) continue;
          ::epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
          ready.emplace_back(fd, it->second.served);
          parked_.erase(it);
        }
        // Idle time runs out in whole 100 ms steps; a stopping server closes idle keep-alive
        // connections at once, as its clients are to reconnect elsewhere.
        const auto now = Clock::now();
        const bool stopping = draining_ || server_.stopping_;
        if (now >= next_sweep || stopping) {
          next_sweep = now + std::chrono::milliseconds(100);
          for (auto it = parked_.begin(); it != parked_.end();) {
            if (now >= it->second.until || (stopping && it->second.served > 0)) {
              ::epoll_ctl(epoll_, EPOLL_CTL_DEL, it->first, nullptr);
              expired.push_back(it->first);
              it = parked_.erase(it);
            } else {
              ++it;
            }
          }
        }
        server_.parked_ = parked_.size();
        if (draining_ && parked_.empty()) finished_ = done = true;
      }
      for (const auto& connection : ready) {
        const socket_t fd = connection.first;
        const std::size_t served = connection.second;
        pool_.enqueue([this, fd, served] { server_.serve(fd, served); });
      }
      for (const socket_t fd : expired) close_connection(fd);
    }
  }

  GuardedHttpServer& server_;
  httplib::ThreadPool pool_;
  int epoll_ = -1;
  int wake_ = -1;
  std::thread watcher_;
  std::mutex mutex_;
  std::unordered_map<socket_t, Parked> parked_;
  bool draining_ = false;  // httplib has stopped accepting
  bool finished_ = false;  // the watcher is gone: park() refuses
  bool shut_down_ = false;
};

Clock::time_point request_started_at() { return t_request_start; }

GuardedHttpServer::GuardedHttpServer(const ConnectionLimits& limits, std::size_t threads)
    : limits_(limits), threads_(std::max<std::size_t>(threads, 1)) {
  new_task_queue = [this] {
    auto* queue = new ConnectionQueue(*this, threads_);
    queue_ = queue;
    return queue;
  };
  // httplib applies these to the sockets it accepts; our stream enforces them as well.
  const auto whole = [](double s) { return static_cast<time_t>(s); };
  const auto micros = [](double s) {
    return static_cast<time_t>((s - static_cast<time_t>(s)) * 1e6);
  };
  set_read_timeout(whole(limits.read_timeout), micros(limits.read_timeout));
  set_write_timeout(whole(limits.write_timeout), micros(limits.write_timeout));
  // Our loop keeps connections alive itself; httplib writes these in its Keep-Alive header.
  set_keep_alive_timeout(whole(std::max(1.0, limits.keep_alive_timeout)));
  set_keep_alive_max_count(limits.keep_alive_max);
  set_tcp_nodelay(true);
  set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_socket_ = sock;  // the last socket httplib tries is the one it binds
  });
}

int GuardedHttpServer::bind_with_backlog(const std::string& host, int port, int backlog) {
  const int bound = port == 0 ? bind_to_any_port(host) : (bind_to_port(host, port) ? port : -1);
  // httplib listens with a backlog of 5: a burst of new connections would then wait for SYN
  // retransmits (1 s). Linux lets listen() be called again to raise it.
  if (bound >= 0) ::listen(listen_socket_, backlog);
  return bound;
}

void GuardedHttpServer::stop_accepting() {
  stopping_ = true;
  stop();
}

void GuardedHttpServer::close_after_each_answer() { close_each_ = true; }

std::size_t GuardedHttpServer::requests_in_flight() const { return in_flight_; }

std::size_t GuardedHttpServer::connections_parked() const { return parked_; }

GuardedHttpServer::~GuardedHttpServer() = default;

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  serve(sock, 0);
  return true;
}

void GuardedHttpServer::serve(socket_t sock, std::size_t served) {
  const ConnectionLimits& c = limits_;
  DeadlineStream strm(sock, c.read_timeout, c.write_timeout);
  for (; served < std::max<std::size_t>(c.keep_alive_max, 1); ++served) {
    // The next request: ready now (buffered, or on the socket), or the connection is parked
    // without a thread for up to read_timeout (its first request) or keep_alive_timeout.
    bool readable = strm.has_buffered() || readable_within(sock, 0);
    if (!readable) {
      if (served > 0 && stopping_) break;
      const auto limit =
          Clock::now() + seconds(served == 0 ? c.read_timeout : c.keep_alive_timeout);
      if (queue_ != nullptr && queue_->park(sock, served, limit)) return;
      // The server is stopping and parks no more: wait here, noticing stop() every 100 ms.
      while (!readable && Clock::now() < limit) {
        if (served > 0 && stopping_) break;
        readable = readable_within(sock, std::min(100, ms_until(limit)));
      }
      if (!readable) break;
    }
    t_request_start = Clock::now();
    strm.set_deadline(t_request_start + seconds(c.request_read_timeout));
    const bool last = stopping_ || close_each_ || served + 1 >= c.keep_alive_max;
    bool connection_closed = false;
    ++in_flight_;
    const bool ok = process_request(strm, last, connection_closed, [](httplib::Request&) {});
    --in_flight_;
    if (!ok || connection_closed || last) break;
  }
  close_connection(sock);
}

}  // namespace refusal::server
