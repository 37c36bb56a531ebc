#include "server/server.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "base/data_files.h"
#include "refusal/default_model.h"
#include "refusal/error.h"
#include "refusal/model.h"
#include "server/server_impl.h"

namespace refusal::server {
namespace {

using Clock = std::chrono::steady_clock;

// When the request this thread is answering began (its first byte).
thread_local Clock::time_point t_request_start;

int ms_until(Clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
  return ms < 0 ? 0 : static_cast<int>(std::min<long long>(ms, 1 << 30));
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

// Queues the uncached rows and waits for them; false (with out.status set) when the request's
// time is up or the queue is full.
bool queue_and_wait(Batcher& batcher, const std::shared_ptr<Job>& job,
                    const std::vector<std::size_t>& todo, Clock::time_point deadline,
                    Outcome& out) {
  if (Clock::now() >= deadline) {  // its time is up already (e.g. it waited to be read)
    out.status = Outcome::Status::kTimeout;
    return false;
  }
  if (!batcher.submit(job, todo)) {
    out.status = Outcome::Status::kQueueFull;
    out.retry_after = batcher.retry_after_seconds();
    return false;
  }
  if (!job->wait_until(deadline)) {
    out.status = Outcome::Status::kTimeout;
    return false;
  }
  return true;
}

}  // namespace

// httplib's server with our own connection loop: per-request read deadlines, keep-alive that
// notices stop(), and a last request answered on connections accepted before stop().
class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(const ServerConfig& c) : c_(c) {}
  // httplib listens with a backlog of 5: a burst of new connections then waits for SYN
  // retransmits (1 s). Linux lets listen() be called again to raise it.
  void raise_backlog(int n) { ::listen(svr_sock_, n); }

 private:
  const ServerConfig& c_;

  bool process_and_close_socket(socket_t sock) override {
    DeadlineStream strm(sock, c_.read_timeout, c_.write_timeout);
    bool ret = false;
    for (std::size_t count = 0; count < std::max<std::size_t>(c_.keep_alive_max, 1); ++count) {
      // Wait for the next request: the first one as long as read_timeout, later ones (keep-
      // alive) up to keep_alive_timeout, giving up early once the server stops.
      const auto limit =
          Clock::now() + std::chrono::milliseconds(static_cast<long long>(
                             (count == 0 ? c_.read_timeout : c_.keep_alive_timeout) * 1000));
      bool readable = strm.has_buffered();
      while (!readable && Clock::now() < limit) {
        if (count > 0 && svr_sock_ == INVALID_SOCKET) break;
        pollfd p{sock, POLLIN, 0};
        const int r = ::poll(&p, 1, std::min(100, ms_until(limit)));
        if (r < 0 && errno != EINTR) break;
        readable = r > 0;
      }
      if (!readable) break;
      t_request_start = Clock::now();
      strm.set_deadline(t_request_start + std::chrono::milliseconds(static_cast<long long>(
                                              c_.request_read_timeout * 1000)));
      const bool stopping = svr_sock_ == INVALID_SOCKET;
      const bool last = stopping || count + 1 >= c_.keep_alive_max;
      bool connection_closed = false;
      ret = process_request(strm, last, connection_closed, [](httplib::Request&) {});
      if (!ret || connection_closed || last) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ret;
  }
};

// ---- shared helpers ----

std::string route_family(const std::string& path) {
  if (path == "/analyze/output" || path == "/scan/output" || path == "/healthz" ||
      path == "/readyz") {
    return "llm_guard";
  }
  if (path == "/predict" || path == "/health" || path == "/info") return "tei";
  if (path.rfind("/v1/", 0) == 0) return "native";
  return "other";
}

void set_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

Server::Impl::Impl(ServerConfig c, std::shared_ptr<const Engine> e, Tokenizer t)
    : config(std::move(c)),
      engine(std::move(e)),
      tokenizer(std::move(t)),
      verdict_cache(config.cache_size),
      output_cache(config.cache_size) {
  batcher = std::make_unique<Batcher>(
      engine,
      BatcherOptions{config.queue_capacity, config.batch_tokens, config.batch_max_texts,
                     config.batch_wait_ms, 0.8 * config.request_timeout},
      &metrics);
  ClassifierOptions o;
  o.preset = Preset::kLlmGuard;
  o.threshold = config.threshold;
  o.match = parse_match_mode(config.match_type);
  o.max_length = config.max_length;
  llm_guard = classifier_for(o);
}

std::string Server::Impl::options_key(const ClassifierOptions& o) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "m%d|l%d|n%zu|s%zu|t%.17g|p%d", static_cast<int>(o.match),
                static_cast<int>(o.long_text), o.max_length.value_or(0), o.stride,
                o.effective_threshold(), static_cast<int>(o.preset));
  return buf;
}

std::shared_ptr<const Classifier> Server::Impl::classifier_for(const ClassifierOptions& options) {
  const std::string key = options_key(options);
  std::lock_guard lock(classifiers_mu);
  auto it = classifiers.find(key);
  if (it != classifiers.end()) return it->second;
  auto c = std::make_shared<const Classifier>(engine, tokenizer, options);
  // Bounded: a client sending many distinct thresholds gets classifiers that are not kept.
  if (classifiers.size() < 64) classifiers.emplace(key, c);
  return c;
}

std::chrono::steady_clock::time_point Server::Impl::deadline() const {
  return t_request_start +
         std::chrono::milliseconds(static_cast<long long>(config.request_timeout * 1000));
}

const PunktParameters& Server::Impl::punkt_params() {
  std::call_once(punkt_once, [&] {
    const auto dir = base::find_data_file("punkt_tab/english");
    if (!dir) throw Error("punkt_tab/english not found in " + base::data_search_path_text());
    punkt = load_punkt_parameters(*dir);
  });
  return *punkt;
}

Outcome Server::Impl::classify(const std::shared_ptr<const Classifier>& classifier,
                               std::vector<std::string> texts, Clock::time_point deadline) {
  Outcome out;
  const std::size_t n = texts.size();
  out.verdicts.resize(n);
  out.errors.resize(n);
  const std::string group = options_key(classifier->options());
  auto job = std::make_shared<Job>();
  job->group = group;
  job->classifier = classifier;
  job->resize(n);
  std::vector<std::size_t> todo;
  std::vector<std::string> keys(n);
  for (std::size_t i = 0; i < n; ++i) {
    keys[i] = group + '\x1f' + texts[i];
    if (auto hit = verdict_cache.get(keys[i])) {
      metrics.cache(true);
      out.verdicts[i] = std::move(*hit);
    } else {
      metrics.cache(false);
      todo.push_back(i);
    }
  }
  job->texts = std::move(texts);
  if (todo.empty()) return out;
  if (!queue_and_wait(*batcher, job, todo, deadline, out)) return out;
  for (std::size_t i : todo) {
    if (job->errors[i].empty()) {
      verdict_cache.put(keys[i], job->verdicts[i]);
      out.verdicts[i] = std::move(job->verdicts[i]);
    } else {
      out.errors[i] = job->errors[i];
    }
  }
  return out;
}

Outcome Server::Impl::run_ids(std::vector<std::vector<std::int32_t>> ids,
                              std::vector<std::string> cache_keys, Clock::time_point deadline) {
  Outcome out;
  const std::size_t n = ids.size();
  out.outputs.resize(n);
  out.errors.resize(n);
  auto job = std::make_shared<Job>();
  job->group = "ids";
  job->raw_ids = true;
  job->resize(n);
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < n; ++i) {
    if (auto hit = output_cache.get(cache_keys[i])) {
      metrics.cache(true);
      out.outputs[i] = std::move(*hit);
    } else {
      metrics.cache(false);
      todo.push_back(i);
    }
  }
  job->ids = std::move(ids);
  if (todo.empty()) return out;
  if (!queue_and_wait(*batcher, job, todo, deadline, out)) return out;
  for (std::size_t i : todo) {
    if (job->errors[i].empty()) {
      output_cache.put(cache_keys[i], job->outputs[i]);
      out.outputs[i] = std::move(job->outputs[i]);
    } else {
      out.errors[i] = job->errors[i];
    }
  }
  return out;
}

AuthResult Server::Impl::check_bearer(const httplib::Request& req) const {
  if (config.api_keys.empty()) return AuthResult::kOk;
  // FastAPI's HTTPBearer: "scheme credentials", split at the first space.
  const std::string h = req.get_header_value("Authorization");
  const auto sp = h.find(' ');
  const std::string scheme = sp == std::string::npos ? h : h.substr(0, sp);
  const std::string credentials = sp == std::string::npos ? "" : h.substr(sp + 1);
  if (h.empty() || scheme.empty() || credentials.empty()) return AuthResult::kMissing;
  std::string lower;
  for (char c : scheme) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower != "bearer") return AuthResult::kWrongScheme;
  bool ok = false;
  for (const auto& key : config.api_keys) {
    // Constant time in the key's content.
    unsigned diff = key.size() != credentials.size();
    for (std::size_t i = 0; i < key.size(); ++i) {
      diff |= static_cast<unsigned char>(key[i]) ^
              static_cast<unsigned char>(i < credentials.size() ? credentials[i] : 0);
    }
    ok = ok || diff == 0;
  }
  return ok ? AuthResult::kOk : AuthResult::kWrongKey;
}

void Server::Impl::register_misc_routes(httplib::Server& svr) {
  svr.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
    // Browsers get the page; API clients get LLM Guard's root answer.
    if (req.get_header_value("Accept").find("text/html") != std::string::npos) {
      res.set_content(web_page_html(), "text/html; charset=utf-8");
    } else {
      set_json(res, 200, R"({"name":"LLM Guard API"})");
    }
  });
  svr.Get("/ui", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(web_page_html(), "text/html; charset=utf-8");
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    metrics.queue_depth(batcher->depth());
    res.set_content(metrics.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  svr.Get("/openapi.json", [this](const httplib::Request&, httplib::Response& res) {
    set_json(res, 200, openapi_json(config));
  });
}

// ---- Server ----

namespace {

std::shared_ptr<const Engine> load_engine(const ServerConfig& c, ModelFiles& files) {
  files = resolve_model(model_or_default(c.model));  // no model: the bundled default
  return std::make_shared<const Engine>(
      Engine::load(files, {.threads = c.threads, .dtype = parse_dtype(c.dtype)}));
}

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ms));
  return buf;
}

const char* status_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

}  // namespace

Server::Server(ServerConfig config) {
  ModelFiles files;
  auto engine = load_engine(config, files);
  impl_ =
      std::make_unique<Impl>(std::move(config), engine, Tokenizer::from_model_folder(files.folder));
}

Server::Server(ServerConfig config, std::shared_ptr<const Engine> engine, Tokenizer tokenizer)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(engine), std::move(tokenizer))) {}

Server::~Server() {
  if (impl_) {
    stop();
    impl_->batcher->stop();
  }
}

const ServerConfig& Server::config() const { return impl_->config; }
int Server::port() const { return impl_->bound_port; }

int Server::bind() {
  auto& m = *impl_;
  const ServerConfig& c = m.config;
  m.http = std::make_unique<GuardedHttpServer>(m.config);
  auto& http = *m.http;
  const std::size_t threads = std::max<std::size_t>(c.http_threads, 2);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(c.max_body_bytes);
  http.set_read_timeout(
      static_cast<time_t>(c.read_timeout),
      static_cast<time_t>((c.read_timeout - static_cast<time_t>(c.read_timeout)) * 1e6));
  http.set_write_timeout(static_cast<time_t>(c.write_timeout), 0);
  http.set_keep_alive_timeout(static_cast<time_t>(std::max(1.0, c.keep_alive_timeout)));
  http.set_keep_alive_max_count(c.keep_alive_max);
  http.set_tcp_nodelay(true);
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let a second server
  // on the same port start and silently share its connections.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  m.register_llm_guard_routes(http);
  m.register_tei_routes(http);
  m.register_native_routes(http);
  m.register_misc_routes(http);

  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string family = route_family(req.path);
    const std::string phrase = status_phrase(res.status);
    if (family == "tei") {
      if (res.status == 413) {
        set_json(res, 413, R"({"error":"Payload Too Large","error_type":"validation"})");
      }
      return;  // axum answers most of its own errors with empty bodies
    }
    if (family == "native") {
      nlohmann::ordered_json j;
      j["error"] = phrase;
      j["error_type"] = "http";
      set_json(res, res.status, j.dump());
      return;
    }
    nlohmann::ordered_json j;
    j["message"] = phrase;
    j["details"] = nullptr;
    set_json(res, res.status, j.dump());
  });
  http.set_exception_handler(
      [this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        impl_->metrics.error("internal");
        std::fprintf(stderr, "refusal serve: internal error: %s\n", what.c_str());
        set_json(res, 500, R"({"message":"Internal Server Error","details":null})");
      });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    auto& mm = *impl_;
    const double seconds = std::chrono::duration<double>(Clock::now() - t_request_start).count();
    std::string route = req.path;
    if (route_family(route) == "other" && route != "/" && route != "/ui" && route != "/metrics" &&
        route != "/openapi.json") {
      route = "other";
    }
    mm.metrics.request(route, res.status, seconds);
    if (res.status >= 400) mm.metrics.error(std::to_string(res.status));
    if (mm.config.access_log) {
      nlohmann::ordered_json line;
      line["ts"] = iso_now();
      line["remote"] = req.remote_addr;
      line["method"] = req.method;
      line["path"] = req.path;
      line["status"] = res.status;
      line["bytes_in"] = req.body.size();
      line["bytes_out"] = res.body.size();
      line["ms"] = std::round(seconds * 1e6) / 1e3;
      const std::string text =
          line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
      std::fwrite(text.data(), 1, text.size(), stderr);
    }
  });

  if (c.port == 0) {
    m.bound_port = http.bind_to_any_port(c.host);
  } else {
    m.bound_port = http.bind_to_port(c.host, c.port) ? c.port : -1;
  }
  if (m.bound_port >= 0) http.raise_backlog(1024);
  if (m.bound_port < 0) {
    throw Error("cannot listen on " + c.host + ":" + std::to_string(c.port) + ": " +
                std::strerror(errno));
  }
  return m.bound_port;
}

void Server::serve() {
  if (!impl_->http) bind();
  impl_->serving = true;
  if (!impl_->stop_requested) impl_->http->listen_after_bind();
  impl_->serving = false;
  // Every accepted connection has been answered: the HTTP threads are joined.
}

void Server::stop() {
  impl_->stop_requested = true;
  if (!impl_->http) return;
  // stop() before the accept loop runs would be lost: wait for it (briefly).
  for (int i = 0; i < 2000 && impl_->serving && !impl_->http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->http->stop();
}

}  // namespace refusal::server
