// The HTTP layer: cpp-httplib set up from the settings, the route table registered through a
// thin adapter (httplib's request in, routes.h's answer out), the access log and metrics.
#include "server/server.h"

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "refusal/default_model.h"
#include "refusal/error.h"
#include "refusal/model.h"
#include "server/http_connection.h"
#include "server/routes.h"
#include "server/services.h"

namespace refusal::server {
namespace {

using Clock = std::chrono::steady_clock;

std::string_view header(const httplib::Request& req, const char* name) {
  const auto it = req.headers.find(name);  // case-insensitive
  return it == req.headers.end() ? std::string_view() : std::string_view(it->second);
}

HttpRequestView view_of(const httplib::Request& req) {
  return {.method = req.method,
          .path = req.path,
          .body = req.body,
          .content_type = header(req, "Content-Type"),
          .authorization = header(req, "Authorization"),
          .accept = header(req, "Accept"),
          .received = request_started_at()};
}

void write(HttpResponse answer, httplib::Response& res) {
  res.status = answer.status;
  for (auto& [name, value] : answer.headers) res.set_header(name, value);
  if (!answer.body.empty() || !answer.content_type.empty()) {
    res.set_content(std::move(answer.body), answer.content_type);
  }
}

// httplib matches a route's pattern as a regex: the table's paths are literal.
std::string literal_pattern(std::string_view path) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(std::string(path), special, R"(\$&)");
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

void write_access_log(const httplib::Request& req, const httplib::Response& res, double seconds) {
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

std::shared_ptr<const Engine> load_engine(const ServerConfig& c, ModelFiles& files) {
  files = resolve_model(model_or_default(c.model));  // no model: the bundled default
  return std::make_shared<const Engine>(
      Engine::load(files, {.threads = c.threads, .dtype = parse_dtype(c.dtype)}));
}

ConnectionLimits connection_limits(const ServerConfig& c) {
  return {c.read_timeout, c.write_timeout, c.request_read_timeout, c.keep_alive_timeout,
          c.keep_alive_max};
}

}  // namespace

struct Server::Impl {
  Services services;
  std::unique_ptr<GuardedHttpServer> http;
  int bound_port = -1;
  std::atomic<bool> serving{false};
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> served{false};  // serve() has returned

  Impl(ServerConfig c, std::shared_ptr<const Engine> e, Tokenizer t)
      : services(std::move(c), std::move(e), std::move(t)) {}

  void register_routes();
  void set_handlers();
};

// Every path of the table, for every method: answer() gives the route's answer, or 405.
// Unknown paths are httplib's 404s, shaped by the error handler.
void Server::Impl::register_routes() {
  httplib::Server::Handler handler = [this](const httplib::Request& req, httplib::Response& res) {
    write(answer(view_of(req), services), res);
  };
  std::set<std::string_view> paths;
  for (const Route& r : routes()) paths.insert(r.path);
  for (std::string_view path : paths) {
    const std::string pattern = literal_pattern(path);
    http->Get(pattern, handler);
    http->Post(pattern, handler);
    http->Put(pattern, handler);
    http->Patch(pattern, handler);
    http->Delete(pattern, handler);
    http->Options(pattern, handler);
  }
}

// What httplib answers itself (404, 413, 400, ...) in the path's API's shape; the access log
// and the request metrics.
void Server::Impl::set_handlers() {
  http->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a route's own answer
    HttpResponse shaped = shape_of(family_of_path(req.path)).http_error(res.status);
    if (!shaped.body.empty()) write(std::move(shaped), res);
  });
  http->set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        services.metrics().error("internal");
        std::fprintf(stderr, "refusal serve: internal error: %s\n", what.c_str());
        write(shape_of(family_of_path(req.path)).http_error(500), res);
      });
  http->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const double seconds =
        std::chrono::duration<double>(Clock::now() - request_started_at()).count();
    services.metrics().request(std::string(metrics_route_label(req.path)), res.status, seconds);
    if (res.status >= 400) services.metrics().error(std::to_string(res.status));
    if (services.config().access_log) write_access_log(req, res, seconds);
  });
}

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
    impl_->services.stop();
  }
}

const ServerConfig& Server::config() const { return impl_->services.config(); }
int Server::port() const { return impl_->bound_port; }

int Server::bind() {
  auto& m = *impl_;
  const ServerConfig& c = m.services.config();
  m.http = std::make_unique<GuardedHttpServer>(connection_limits(c),
                                               std::max<std::size_t>(c.http_threads, 2));
  m.http->set_payload_max_length(c.max_body_bytes);
  m.register_routes();
  m.set_handlers();
  m.bound_port = m.http->bind_with_backlog(c.host, c.port, 1024);
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
  impl_->served = true;
}

void Server::stop() {
  impl_->stop_requested = true;
  if (!impl_->http) return;
  // stop() before the accept loop runs would be lost: wait for it (briefly).
  for (int i = 0; i < 2000 && impl_->serving && !impl_->http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->http->stop_accepting();
}

std::size_t Server::requests_in_flight() const {
  return impl_->http ? impl_->http->requests_in_flight() : 0;
}

std::size_t Server::shut_down(const std::function<unsigned()>& stop_requests) {
  const unsigned first = stop_requests();
  const auto cut_short = [&] { return stop_requests() > first; };
  const auto seconds = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  // Waits until `done()`, `deadline` or another stop request; true when done.
  const auto wait = [&](const auto& done, Clock::time_point deadline) {
    while (!done() && !cut_short() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  };
  const ServerConfig& c = config();
  impl_->services.set_ready(false);
  if (impl_->http) impl_->http->close_after_each_answer();
  if (c.shutdown_delay > 0) {
    std::fprintf(stderr,
                 "refusal serve: not ready (/readyz 503); serving %g s more before draining\n",
                 c.shutdown_delay);
    wait([] { return false; }, Clock::now() + seconds(c.shutdown_delay));
  }
  std::fprintf(stderr, "refusal serve: stopped accepting; draining %zu request(s) in flight\n",
               requests_in_flight());
  stop();
  const auto drain_end =
      c.drain_timeout > 0 ? Clock::now() + seconds(c.drain_timeout) : Clock::time_point::max();
  if (wait([&] { return impl_->served.load(); }, drain_end)) return 0;
  return impl_->served ? 0 : requests_in_flight();
}

}  // namespace refusal::server
