// `refusal serve`: the HTTP server. Settings: defaults < --config FILE < REFUSAL_SERVE_*
// environment variables < flags. SIGTERM or SIGINT: not ready (/readyz 503), serve on for
// --shutdown-delay, stop accepting, answer what was accepted (at most --drain-timeout), exit 0;
// a second signal cuts that short.
#include <malloc.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "base/cpu_budget.h"
#include "commands.h"
#include "refusal/default_model.h"
#include "server/config.h"
#include "server/server.h"

namespace refusal::app {
namespace {

// Stop requests so far, counted by the SIGTERM/SIGINT handler (which may run on any thread,
// including the BLAS library's, so it only counts); a waiter thread acts on them.
volatile std::sig_atomic_t g_stop_signals = 0;
volatile std::sig_atomic_t g_last_signal = 0;
extern "C" void on_stop_signal(int sig) {
  g_last_signal = sig;
  g_stop_signals = g_stop_signals + 1;
}

struct ServeArgs {
  std::string config_file;
  std::map<std::string, std::string> flags;  // setting -> value, for the flags given
};

// glibc gives threads their own malloc arenas (up to 8 per core), and the HTTP threads' short-
// lived request buffers fragment each of them: in a 40 s soak (docs/security.md) resident
// memory grew from 92 to 173 MB with the default and levelled at 80 MB with 2 arenas. One arena
// per usable CPU, unless MALLOC_ARENA_MAX says otherwise.
void limit_malloc_arenas() {
#ifdef M_ARENA_MAX
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, std::max(2, base::usable_cpus()));
  }
#endif
}

int run_serve(const ServeArgs& a) {
  limit_malloc_arenas();
  std::string file = a.config_file;
  if (file.empty()) {
    if (const char* f = std::getenv("REFUSAL_SERVE_CONFIG")) file = f;
  }
  server::ServerConfig config = server::load_config(file, a.flags);
  if (config.model.empty()) config.model = default_model_path().string();  // the bundled model

  // Handlers first: a SIGTERM right after the "listening" line must not kill the process.
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGTERM);  // one handler at a time: the count stays exact
  sigaddset(&sa.sa_mask, SIGINT);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::fprintf(stderr, "refusal serve: loading %s\n", config.model.c_str());
  server::Server srv(config);
  const int port = srv.bind();
  std::printf("refusal serve: listening on http://%s:%d\n", config.host.c_str(), port);
  std::fflush(stdout);

  std::atomic<bool> served{false};
  std::thread waiter([&] {
    while (!served && g_stop_signals == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (served) return;
    std::fprintf(stderr, "refusal serve: %s: shutting down\n",
                 g_last_signal == SIGINT ? "SIGINT" : "SIGTERM");
    const std::size_t unanswered =
        srv.shut_down([] { return static_cast<unsigned>(g_stop_signals); });
    // serve() returns at once when everything was answered, or soon when only idle
    // keep-alive connections were left.
    for (int i = 0; i < 100 && unanswered == 0 && !served; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (served) return;
    // Cut short (drain timeout or another signal): exit without waiting for serve().
    if (unanswered > 0) {
      std::fprintf(stderr, "refusal serve: exiting with %zu request(s) unanswered\n", unanswered);
    } else {
      std::fprintf(stderr, "refusal serve: stopped\n");
    }
    std::fflush(nullptr);
    std::_Exit(unanswered > 0 ? 1 : 0);
  });
  srv.serve();
  served = true;
  waiter.join();
  std::fprintf(stderr, "refusal serve: stopped\n");
  return 0;
}

std::string flag_name(const std::string& setting) {
  std::string f = "--";
  for (char c : setting) f += c == '_' ? '-' : c;
  return f;
}

}  // namespace

Command add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand(
      "serve",
      "HTTP server: LLM Guard's API (POST /analyze/output, /scan/output), TEI's POST /predict,\n"
      "POST /v1/classify, GET /metrics, /openapi.json, /healthz, /readyz, /health, /info and a\n"
      "web page at /. Every setting below can also be given in --config FILE (`key = value`\n"
      "lines, the names with underscores) or as REFUSAL_SERVE_<NAME> (e.g.\n"
      "REFUSAL_SERVE_API_KEYS); flags win over variables, variables over the file.\n"
      "SIGTERM: /readyz answers 503 while the server keeps serving for --shutdown-delay, then\n"
      "it stops accepting, answers what it accepted (for at most --drain-timeout) and exits 0;\n"
      "a second SIGTERM cuts that short. See docs/server.md and docs/deploy.md.");
  cmd->add_option("--config", a->config_file, "Settings file (also REFUSAL_SERVE_CONFIG)");
  const server::ServerConfig defaults;
  for (const auto& s : server::settings()) {
    std::string names = flag_name(s.name);
    if (s.name == "model") names = "-m," + names;
    const std::string name = s.name;
    const std::string def = server::setting_value(defaults, name);
    cmd->add_option_function<std::string>(
           names, [a, name](const std::string& v) { a->flags[name] = v; },
           s.help + " [env " + server::env_name(name) + (def.empty() ? "" : "; default " + def) +
               "]")
        ->type_name("VALUE");
  }
  return [a] { return run_serve(*a); };
}

}  // namespace refusal::app
