// Many threads at once through the shared parts: one Engine, the LRU cache, the batcher and
// the cache in front of it (Services), and a server with concurrent clients. Each result must
// be what one thread alone gets. These are the tests the ThreadSanitizer build runs
// (`cmake --preset tsan`, docs/security.md): without sharing, a race has nothing to race on.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "refusal/classifier.h"
#include "refusal/engine.h"
#include "refusal/model.h"
#include "refusal/tokenizer.h"
#include "server/lru_cache.h"
#include "server/server.h"
#include "server/services.h"

namespace refusal::server {
namespace {

const char* kModel = "tests/data/models/random-roberta-tok";
constexpr int kThreads = 6;

std::shared_ptr<const Engine> engine(int threads) {
  return std::make_shared<const Engine>(Engine::load(kModel, {.threads = threads}));
}

std::string text(int i) {
  return "Text number " + std::to_string(i) + ": I'm sorry, but I cannot help with " +
         std::string(static_cast<std::size_t>(i % 7), 'x') + ".";
}

template <class F>
void on_threads(F&& f) {
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back([&, t] { f(t); });
  for (auto& th : threads) th.join();
}

TEST(Concurrency, OneEngineManyCallers) {
  const auto shared = engine(2);
  std::vector<std::vector<std::vector<std::int32_t>>> batches;
  for (int t = 0; t < kThreads; ++t) {
    batches.push_back({{0, 100 + t, 200, 2}, {0, 5, 6, 7, 8, 9, 2}, {0, 31414 % 1000, 2}});
  }
  std::vector<std::vector<Classification>> alone;
  for (const auto& b : batches) alone.push_back(shared->classify(b));
  std::vector<std::vector<Classification>> together(kThreads);
  on_threads([&](int t) {
    for (int round = 0; round < 5; ++round) together[t] = shared->classify(batches[t]);
  });
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(together[t].size(), alone[t].size());
    for (std::size_t i = 0; i < alone[t].size(); ++i) {
      EXPECT_EQ(together[t][i].logits, alone[t][i].logits) << "thread " << t << " item " << i;
    }
  }
}

TEST(Concurrency, LruCacheUnderContention) {
  LruCache<int> cache(64);
  on_threads([&](int t) {
    for (int i = 0; i < 5000; ++i) {
      const std::string key = std::to_string((i * 7 + t) % 200);
      if (auto v = cache.get(key)) {
        EXPECT_EQ(*v, std::stoi(key));
      }
      cache.put(key, std::stoi(key));
    }
  });
  EXPECT_EQ(cache.size(), 64u);
}

TEST(Concurrency, BatcherAndCacheGiveEachCallerItsOwnVerdicts) {
  ServerConfig config;
  config.cache_size = 32;  // smaller than the texts: entries are evicted while others read
  config.batch_wait_ms = 1;
  Services services(config, engine(2), Tokenizer::from_model_folder(kModel));
  const auto classifier = services.no_refusal();
  std::vector<double> alone(100);
  for (int i = 0; i < 100; ++i) {
    const std::string t = text(i);
    const std::string_view view = t;
    alone[static_cast<std::size_t>(i)] = classifier->classify({&view, 1})[0].score;
  }
  std::atomic<int> checked{0};
  on_threads([&](int t) {
    for (int round = 0; round < 4; ++round) {
      std::vector<std::string> texts;
      std::vector<int> which;
      for (int i = (t + round) % 5; i < 100; i += 5) {
        texts.push_back(text(i));
        which.push_back(i);
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
      const Outcome o = services.classify(classifier, texts, deadline);
      ASSERT_EQ(o.status, Outcome::Status::kOk);
      ASSERT_EQ(o.verdicts.size(), texts.size());
      for (std::size_t k = 0; k < texts.size(); ++k) {
        EXPECT_TRUE(o.errors[k].empty()) << o.errors[k];
        EXPECT_EQ(o.verdicts[k].score, alone[static_cast<std::size_t>(which[k])]);
        ++checked;
      }
    }
  });
  EXPECT_EQ(checked.load(), kThreads * 4 * 20);
}

// A server for kModel on a free loopback port, quiet, with `http_threads` HTTP threads.
ServerConfig loopback_config(int http_threads) {
  ServerConfig config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.model = kModel;
  config.access_log = false;
  config.http_threads = http_threads;
  return config;
}

TEST(Concurrency, ServerWithConcurrentClientsThenStop) {
  ServerConfig config = loopback_config(8);
  config.cache_size = 16;
  Server server(config, engine(2), Tokenizer::from_model_folder(kModel));
  const int port = server.bind();
  std::thread serving([&] { server.serve(); });
  std::atomic<int> ok{0};
  on_threads([&](int t) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(60, 0);
    for (int i = 0; i < 10; ++i) {
      const std::string body = "{\"texts\":[\"" + text(t * 10 + i) + "\",\"" + text(i) + "\"]}";
      const char* paths[] = {"/v1/classify", "/scan/output", "/predict"};
      const std::string path = paths[i % 3];
      const std::string b = path == "/v1/classify" ? body
                            : path == "/predict"
                                ? "{\"inputs\":\"" + text(i) + "\"}"
                                : "{\"prompt\":\"\",\"output\":\"" + text(i) + "\"}";
      const auto r = cli.Post(path, b, "application/json");
      if (r && r->status == 200) ++ok;
      if (i % 4 == 0) cli.Get("/metrics");
    }
  });
  server.stop();
  serving.join();
  EXPECT_EQ(ok.load(), kThreads * 10);
}

int connect_to(int port) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return sock;
}

// Sends GET /healthz on `sock` and returns the whole answer, head and body ("" when it does
// not come in 10 s).
std::string get_healthz(int sock) {
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
  if (::send(sock, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return "";
  }
  std::string answer;
  std::size_t whole = std::string::npos;
  while (answer.size() < whole) {
    pollfd p{sock, POLLIN, 0};
    char buf[4096];
    if (::poll(&p, 1, 10000) != 1) return "";
    const ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    if (n <= 0) return "";
    answer.append(buf, static_cast<std::size_t>(n));
    const std::size_t head_end = answer.find("\r\n\r\n");
    const std::size_t length = answer.find("Content-Length: ");
    if (head_end != std::string::npos && length != std::string::npos && length < head_end) {
      whole = head_end + 4 + std::stoul(answer.substr(length + 16));
    }
  }
  return answer;
}

// Issue 19's soak: idle connections used to hold an HTTP thread each (up to their idle time),
// so a few hundred of them starved every other client. Now they wait without a thread. Here 2
// threads, 30 s idle times, 40 keep-alive connections idle after one request and 40 that have
// sent nothing: a new client is still answered (within its 10 s timeout, which holding threads
// for 30 s would pass), the idle connections still work, and stop() closes them.
TEST(Concurrency, IdleConnectionsHoldNoThread) {
  ServerConfig config = loopback_config(2);
  config.read_timeout = 30;
  config.keep_alive_timeout = 30;
  Server server(config, engine(1), Tokenizer::from_model_folder(kModel));
  const int port = server.bind();
  std::thread serving([&] { server.serve(); });
  std::vector<int> kept_alive;
  std::vector<int> silent;
  for (int i = 0; i < 40; ++i) {
    kept_alive.push_back(connect_to(port));
    EXPECT_EQ(get_healthz(kept_alive.back()).rfind("HTTP/1.1 200", 0), 0u) << "connection " << i;
    silent.push_back(connect_to(port));
  }
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(10, 0);
  client.set_read_timeout(10, 0);
  const auto answer =
      client.Post("/predict", R"({"inputs":"I'm sorry, I can't."})", "application/json");
  ASSERT_TRUE(answer) << httplib::to_string(answer.error());
  EXPECT_EQ(answer->status, 200);
  // A parked connection comes back to a thread when its next request arrives; so does one
  // whose first request comes late.
  EXPECT_EQ(get_healthz(kept_alive[7]).rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(get_healthz(silent[11]).rfind("HTTP/1.1 200", 0), 0u);
  // A stopping server closes the idle keep-alive connections (their clients reconnect
  // elsewhere) at once, not after their 30 s.
  const auto stop_began = std::chrono::steady_clock::now();
  std::thread stopping([&] { server.stop(); });
  for (const int sock : kept_alive) {
    pollfd p{sock, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
    char byte;
    EXPECT_EQ(::recv(sock, &byte, 1, 0), 0) << "closed without an answer";
  }
  EXPECT_LT(std::chrono::steady_clock::now() - stop_began, std::chrono::seconds(10));
  // Those that have sent nothing may still send their first request and are answered.
  EXPECT_EQ(get_healthz(silent[3]).rfind("HTTP/1.1 200", 0), 0u);
  for (const int sock : silent) ::shutdown(sock, SHUT_WR);
  stopping.join();
  serving.join();
  for (const int sock : kept_alive) ::close(sock);
  for (const int sock : silent) ::close(sock);
}

}  // namespace
}  // namespace refusal::server
