// `refusal serve`: the HTTP server. Settings: defaults < --config FILE < REFUSAL_SERVE_*
// environment variables < flags. SIGTERM or SIGINT: stop accepting, answer what was accepted,
// exit 0.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "commands.h"
#include "refusal/default_model.h"
#include "server/config.h"
#include "server/server.h"

namespace refusal::app {
namespace {

// Set by the SIGTERM/SIGINT handler (which may run on any thread, including the BLAS
// library's, so it only stores a flag); a waiter thread acts on it.
volatile std::sig_atomic_t g_signal = 0;
extern "C" void on_stop_signal(int sig) { g_signal = sig; }

struct ServeArgs {
  std::string config_file;
  std::map<std::string, std::string> flags;  // setting -> value, for the flags given
};

int run_serve(const ServeArgs& a) {
  std::string file = a.config_file;
  if (file.empty()) {
    if (const char* f = std::getenv("REFUSAL_SERVE_CONFIG")) file = f;
  }
  server::ServerConfig config = server::load_config(file, a.flags);
  if (config.model.empty()) config.model = default_model_path().string();  // the bundled model

  std::fprintf(stderr, "refusal serve: loading %s\n", config.model.c_str());
  server::Server srv(config);
  const int port = srv.bind();
  std::printf("refusal serve: listening on http://%s:%d\n", config.host.c_str(), port);
  std::fflush(stdout);

  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    while (!done) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      const int sig = g_signal;
      if (sig == SIGTERM || sig == SIGINT) {
        std::fprintf(stderr, "refusal serve: %s: draining in-flight requests\n",
                     sig == SIGTERM ? "SIGTERM" : "SIGINT");
        srv.stop();
        return;
      }
    }
  });
  srv.serve();
  done = true;
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
      "SIGTERM drains in-flight requests, then exits 0. See docs/server.md.");
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
