#include "server/http_connection.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

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

}  // namespace

Clock::time_point request_started_at() { return t_request_start; }

GuardedHttpServer::GuardedHttpServer(const ConnectionLimits& limits) : limits_(limits) {
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

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  const ConnectionLimits& c = limits_;
  DeadlineStream strm(sock, c.read_timeout, c.write_timeout);
  bool ret = false;
  for (std::size_t count = 0; count < std::max<std::size_t>(c.keep_alive_max, 1); ++count) {
    // Wait for the next request: the first one as long as read_timeout, later ones (keep-
    // alive) up to keep_alive_timeout, giving up early once the server stops.
    const auto limit = Clock::now() + seconds(count == 0 ? c.read_timeout : c.keep_alive_timeout);
    bool readable = strm.has_buffered();
    while (!readable && Clock::now() < limit) {
      if (count > 0 && stopping_) break;
      pollfd p{sock, POLLIN, 0};
      const int r = ::poll(&p, 1, std::min(100, ms_until(limit)));
      if (r < 0 && errno != EINTR) break;
      readable = r > 0;
    }
    if (!readable) break;
    t_request_start = Clock::now();
    strm.set_deadline(t_request_start + seconds(c.request_read_timeout));
    const bool last = stopping_ || close_each_ || count + 1 >= c.keep_alive_max;
    bool connection_closed = false;
    ++in_flight_;
    ret = process_request(strm, last, connection_closed, [](httplib::Request&) {});
    --in_flight_;
    if (!ret || connection_closed || last) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ret;
}

}  // namespace refusal::server
