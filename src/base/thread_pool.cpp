#include "base/thread_pool.h"

#include <atomic>
#include <exception>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "base/cpu_budget.h"

namespace refusal::base {
namespace {

// A forward pass hands the pool dozens of short jobs (a few per layer); waking a sleeping thread
// costs tens of microseconds each time. So threads spin this many pauses (~20-50 µs) before
// they block. Only when every thread of the pool can have a CPU of its own.
constexpr int kSpinPauses = 4000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

thread_local const ThreadPool* t_pool = nullptr;
thread_local int t_worker_index = 0;

}  // namespace

int ThreadPool::worker_index() const { return t_pool == this ? t_worker_index : 0; }

struct ThreadPool::Job {
  TaskRef task{};
  std::size_t n = 0;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::atomic<int> users{0};  // workers that took this job and may still touch it
  std::mutex mutex;
  std::condition_variable finished;
  std::exception_ptr error;
};

ThreadPool::ThreadPool(int threads) {
  if (threads > 1 && threads <= usable_cpus()) spin_pauses_ = kSpinPauses;
  queue_.reserve(64);
  for (int i = 1; i < threads; ++i) {
    workers_.emplace_back([this, i] {
      t_pool = this;
      t_worker_index = i;
      worker_loop();
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_some(Job& job) {
  for (;;) {
    std::size_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= job.n) return;
    try {
      job.task.call(job.task.fn, i);
    } catch (...) {
      std::lock_guard lock(job.mutex);
      if (!job.error) job.error = std::current_exception();
    }
    if (job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.n) {
      std::lock_guard lock(job.mutex);
      job.finished.notify_all();
    }
  }
}

void ThreadPool::worker_loop() {
  for (;;) {
    for (int i = 0; i < spin_pauses_ && queued_.load(std::memory_order_acquire) == 0; ++i) {
      cpu_relax();
    }
    Job* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      job = queue_.front();
      job->users.fetch_add(1, std::memory_order_relaxed);
      // A job whose indices are all handed out leaves the queue; its owner waits for the rest.
      if (job->next.load(std::memory_order_relaxed) + 1 >= job->n) {
        queue_.erase(queue_.begin());
        queued_.fetch_sub(1, std::memory_order_release);
      }
    }
    run_some(*job);
    job->users.fetch_sub(1, std::memory_order_release);  // the last touch of *job
  }
}

void ThreadPool::run(std::size_t n, TaskRef task) {
  if (n == 0) return;
  if (workers_.empty() || n == 1) {
    for (std::size_t i = 0; i < n; ++i) task.call(task.fn, i);
    return;
  }
  regions_.fetch_add(1, std::memory_order_relaxed);
  Job job;
  job.task = task;
  job.n = n;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(&job);
    queued_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_some(job);
  for (int i = 0; i < spin_pauses_ && job.done.load(std::memory_order_acquire) != n; ++i) {
    cpu_relax();
  }
  if (job.done.load(std::memory_order_acquire) != n) {
    std::unique_lock lock(job.mutex);
    job.finished.wait(lock, [&] { return job.done.load(std::memory_order_acquire) == n; });
  }
  {
    // Drop the job if no worker got to it; after this no worker can take it.
    std::lock_guard lock(mutex_);
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == &job) {
        queue_.erase(it);
        queued_.fetch_sub(1, std::memory_order_release);
        break;
      }
    }
  }
  // `job` lives on this stack: wait until every worker that took it has let go (they are past
  // their last index, so this is short, unless a worker lost its CPU: then let it run).
  while (job.users.load(std::memory_order_acquire) != 0) {
    if (spin_pauses_ > 0) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace refusal::base
