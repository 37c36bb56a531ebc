// CPU time of each thread of this process, from /proc/self/task/TID/schedstat (nanoseconds on
// a CPU): what the thread-budget tests read to tell busy threads from sleeping or absent ones.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace refusal::testing {

// Thread id → nanoseconds it has run so far, for every live thread of this process.
inline std::map<pid_t, long long> thread_cpu_ns() {
  std::map<pid_t, long long> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(entry.path() / "schedstat");
    long long ns = 0;
    if (in >> ns) out[static_cast<pid_t>(std::stol(entry.path().filename().string()))] = ns;
  }
  return out;
}

// The threads that ran more than `min_ns` between two snapshots (a thread new in `after`
// counts from 0).
inline int busy_threads(const std::map<pid_t, long long>& before,
                        const std::map<pid_t, long long>& after, long long min_ns) {
  int busy = 0;
  for (const auto& [tid, ns] : after) {
    const auto it = before.find(tid);
    if (ns - (it == before.end() ? 0 : it->second) > min_ns) ++busy;
  }
  return busy;
}

}  // namespace refusal::testing
