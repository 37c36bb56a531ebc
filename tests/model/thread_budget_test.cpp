// Issue 16: Ray, Spark and Dask give a worker its CPU share through OMP_NUM_THREADS. An engine
// loaded with threads = 0 takes that share, so two workers with OMP_NUM_THREADS=1 on two cores
// keep at most two threads busy, whatever the machine's core count.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "refusal/engine.h"
#include "thread_cpu_times.h"

namespace refusal {
namespace {

const std::filesystem::path kModel = "tests/data/models/tiny-roberta-f32";

TEST(ThreadBudget, TwoWorkersWithOmpNumThreadsOneKeepAtMostTwoThreadsBusy) {
  unsetenv("REFUSAL_NUM_THREADS");
  setenv("OMP_NUM_THREADS", "1", 1);
  const Engine a = Engine::load(kModel.string());
  const Engine b = Engine::load(kModel.string());
  EXPECT_EQ(a.threads(), 1);
  EXPECT_EQ(b.threads(), 1);

  std::vector<std::vector<std::int32_t>> batch;
  for (std::size_t len : {8u, 30u, 60u}) {
    std::vector<std::int32_t> ids(len);
    for (std::size_t i = 0; i < len; ++i) ids[i] = static_cast<std::int32_t>(3 + (i * 7) % 90);
    batch.push_back(ids);
  }
  const auto wall = std::chrono::milliseconds(400);
  auto work = [&](const Engine& engine) {
    const auto end = std::chrono::steady_clock::now() + wall;
    while (std::chrono::steady_clock::now() < end) engine.classify(batch);
  };
  const auto before = testing::thread_cpu_ns();
  std::thread first(work, std::cref(a));
  std::thread second(work, std::cref(b));
  first.join();
  second.join();
  const auto after = testing::thread_cpu_ns();
  // Busy: on a CPU for more than a tenth of the run. The two callers are; nothing else may be.
  const long long tenth = std::chrono::nanoseconds(wall).count() / 10;
  EXPECT_LE(testing::busy_threads(before, after, tenth), 2);
  unsetenv("OMP_NUM_THREADS");
}

TEST(ThreadBudget, RefusalNumThreadsOverridesOmpNumThreads) {
  setenv("REFUSAL_NUM_THREADS", "3", 1);
  setenv("OMP_NUM_THREADS", "1", 1);
  EXPECT_EQ(Engine::load(kModel.string()).threads(), 3);
  EXPECT_EQ(Engine::load(kModel.string(), {.threads = 2}).threads(), 2);  // given beats both
  unsetenv("REFUSAL_NUM_THREADS");
  unsetenv("OMP_NUM_THREADS");
}

}  // namespace
}  // namespace refusal
