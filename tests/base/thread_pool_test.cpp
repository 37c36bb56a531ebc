#include "base/thread_pool.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/cpu_budget.h"
#include "thread_cpu_times.h"

namespace refusal::base {
namespace {

TEST(ThreadPool, RunsEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(hits.size(), [&](std::size_t i) { hits[i]++; });
  for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPool, SingleThreadRunsOnCaller) {
  ThreadPool pool(1);
  EXPECT_EQ(pool.threads(), 1);
  const auto caller = std::this_thread::get_id();
  pool.parallel_for(10, [&](std::size_t) { EXPECT_EQ(std::this_thread::get_id(), caller); });
}

TEST(ThreadPool, RethrowsTheTasksException) {
  ThreadPool pool(3);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(50,
                                 [&](std::size_t i) {
                                   ran++;
                                   if (i == 17) throw std::runtime_error("boom");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 50);  // every index still ran
}

TEST(ThreadPool, ManyCallersShareOnePool) {
  ThreadPool pool(3);
  std::vector<std::thread> callers;
  std::vector<long> sums(6, 0);
  for (int c = 0; c < 6; ++c) {
    callers.emplace_back([&, c] {
      for (int round = 0; round < 50; ++round) {
        std::vector<long> parts(64, 0);
        pool.parallel_for(parts.size(), [&](std::size_t i) { parts[i] = static_cast<long>(i); });
        long s = 0;
        for (long p : parts) s += p;
        sums[static_cast<std::size_t>(c)] += s;
      }
    });
  }
  for (auto& t : callers) t.join();
  for (long s : sums) EXPECT_EQ(s, 50L * (63 * 64 / 2));
}

// Narrows this process to its first allowed CPU for one scope.
class OneCpu {
 public:
  OneCpu() {
    EXPECT_EQ(sched_getaffinity(0, sizeof(original_), &original_), 0);
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &original_)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    EXPECT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  }
  ~OneCpu() { sched_setaffinity(0, sizeof(original_), &original_); }
  OneCpu(const OneCpu&) = delete;
  OneCpu& operator=(const OneCpu&) = delete;

 private:
  cpu_set_t original_;
};

TEST(ThreadPool, SpinsOnlyWhenEveryThreadHasACpu) {
  EXPECT_FALSE(ThreadPool(1).spins());  // no workers: nobody to spin
  if (usable_cpus() >= 2) {
    EXPECT_TRUE(ThreadPool(2).spins());
  }
  OneCpu narrowed;
  EXPECT_FALSE(ThreadPool(2).spins());
  EXPECT_FALSE(ThreadPool(4).spins());
}

// Worker and caller CPU time (ns) while the caller hands `pool` 300 tiny jobs with 100 µs of
// its own work after each, as a forward pass does between its parallel steps.
struct CpuSplit {
  long long workers_ns = 0;
  long long caller_ns = 0;
};
CpuSplit run_jobs_with_gaps(ThreadPool& pool) {
  const auto caller = static_cast<pid_t>(syscall(SYS_gettid));
  std::atomic<long> sum{0};
  const auto before = testing::thread_cpu_ns();
  constexpr int kJobs = 300;
  for (int j = 0; j < kJobs; ++j) {
    pool.parallel_for(4, [&](std::size_t i) { sum.fetch_add(static_cast<long>(i)); });
    const auto end = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
    while (std::chrono::steady_clock::now() < end) {
    }
  }
  const auto after = testing::thread_cpu_ns();
  EXPECT_EQ(sum.load(), kJobs * 6L);
  CpuSplit split;
  for (const auto& [tid, ns] : after) {
    const auto it = before.find(tid);
    const long long ran = ns - (it == before.end() ? 0 : it->second);
    (tid == caller ? split.caller_ns : split.workers_ns) += ran;
  }
  return split;
}

// Issue 16: more threads than usable CPUs (a worker given OMP_NUM_THREADS=4 on one core, say):
// between jobs the idle threads sleep instead of spinning on the one CPU the caller needs.
// Measured on one CPU: the workers run ~2 ms in all while the caller runs ~31 ms; a pool that
// spun anyway ran its workers ~30 ms (as long as the caller or longer) every time, and doubled
// the wall time. Waking sleepers costs CPU too, and far more while other processes load the
// machine (25 ms seen once on CI, where ctest runs tests side by side). So the line sits
// halfway, workers under half the caller's time, and the best of three rounds counts: a
// spinning pool fails all three, a passing load spike does not fail the test.
TEST(ThreadPool, IdleWorkersDoNotSpinPastUsableCpus) {
#if defined(__SANITIZE_THREAD__)
  // ThreadSanitizer makes every wake-up cost more CPU than a spin would (38 ms seen): the
  // comparison means nothing there. The release and ASan builds run it.
  GTEST_SKIP() << "CPU-time comparison, meaningless under ThreadSanitizer";
#endif
  OneCpu narrowed;
  ThreadPool pool(4);
  ASSERT_FALSE(pool.spins());
  std::string rounds;
  bool under_the_line = false;
  for (int round = 0; round < 3 && !under_the_line; ++round) {
    const CpuSplit split = run_jobs_with_gaps(pool);
    ASSERT_GT(split.caller_ns, 0);
    under_the_line = split.workers_ns * 2 < split.caller_ns;
    rounds += " [workers " + std::to_string(split.workers_ns / 1000) + " µs, caller " +
              std::to_string(split.caller_ns / 1000) + " µs]";
  }
  EXPECT_TRUE(under_the_line) << "idle workers ran at least half the caller's CPU time in every "
                                 "round:"
                              << rounds;
}

}  // namespace
}  // namespace refusal::base
