// A persistent pool of worker threads shared by all callers of one engine.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace refusal::base {

class ThreadPool {
 public:
  // `threads` counts the caller: a pool of 1 runs everything on the calling thread. Idle
  // threads spin briefly before they sleep, but only when the pool has no more threads than
  // usable_cpus(): past that, a spinning thread would take a CPU from one doing the work.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Whether idle threads spin before sleeping (see the constructor).
  bool spins() const { return spin_pauses_ > 0; }
  // 1..threads()-1 on this pool's worker threads, 0 on any other thread (the callers, who
  // run their own job's tasks): an index for per-thread scratch that a job's owner sizes
  // before parallel_for.
  int worker_index() const;

  // How many parallel_for calls handed work to the workers since construction: each is one
  // wake-up and one barrier (calls run whole on the caller, n <= 1 or no workers, are not
  // counted). What a forward pass pays in synchronisation; tests and profiling read it.
  std::uint64_t regions() const { return regions_.load(std::memory_order_relaxed); }

  // Runs fn(i) for every i in [0, n) and returns when all are done. The caller works too.
  // Safe to call from several threads at once: their jobs share the workers. The first
  // exception thrown by fn is rethrown here once every index has finished. Allocates nothing
  // (fn is referenced, not copied; the job lives on the caller's stack) unless more jobs than
  // the queue's reserved capacity are in flight at once.
  template <class Fn>
  void parallel_for(std::size_t n, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n, TaskRef{const_cast<void*>(static_cast<const void*>(&fn)),
                   [](void* f, std::size_t i) { (*static_cast<F*>(f))(i); }});
  }

 private:
  struct TaskRef {
    void* fn;
    void (*call)(void*, std::size_t);
  };
  struct Job;
  void run(std::size_t n, TaskRef task);
  void worker_loop();
  static void run_some(Job& job);

  int spin_pauses_ = 0;  // pauses an idle thread spins before it blocks (0: never spins)
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Job*> queue_;     // oldest first; capacity reserved up front
  std::atomic<int> queued_{0};  // queue_.size(), readable without the lock while spinning
  std::atomic<std::uint64_t> regions_{0};
  bool stopping_ = false;
};

// Runs fn(begin, end) over about 2 × threads() contiguous ranges of [0, n), each at least
// min_chunk long (one range when n is smaller), on the pool.
template <typename Fn>
void parallel_ranges(ThreadPool& pool, std::size_t n, std::size_t min_chunk, Fn&& fn) {
  const std::size_t parts =
      std::max<std::size_t>(1, std::min<std::size_t>(static_cast<std::size_t>(pool.threads()) * 2,
                                                     n / std::max<std::size_t>(1, min_chunk)));
  const std::size_t chunk = (n + parts - 1) / parts;
  pool.parallel_for(parts, [&](std::size_t p) {
    const std::size_t begin = p * chunk;
    const std::size_t end = std::min(n, begin + chunk);
    if (begin < end) fn(begin, end);
  });
}

}  // namespace refusal::base
