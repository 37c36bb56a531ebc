// Many threads at once through the shared parts: one Engine, the LRU cache, the batcher and
// the cache in front of it (Services), and a server with concurrent clients. Each result must
// be what one thread alone gets. These are the tests the ThreadSanitizer build runs
// (`cmake --preset tsan`, docs/security.md): without sharing, a race has nothing to race on.
#include <gtest/gtest.h>
#include <httplib.h>

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

TEST(Concurrency, ServerWithConcurrentClientsThenStop) {
  ServerConfig config;
  config.host = "127.0.0.1";
  config.port = 0;
  config.model = kModel;
  config.access_log = false;
  config.http_threads = 8;
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

}  // namespace
}  // namespace refusal::server
