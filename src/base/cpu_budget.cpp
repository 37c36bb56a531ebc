#include "base/cpu_budget.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "refusal/error.h"

namespace refusal::base {
namespace {

std::optional<std::string> read_first_line(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// The cgroup (v2 unified, or v1 cpu controller) this process lives in, from /proc/self/cgroup.
std::optional<int> cgroup_quota_cpus() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::optional<int> best;
  auto keep = [&](std::optional<int> n) {
    if (n) best = best ? std::min(*best, *n) : *n;
  };
  while (std::getline(in, line)) {
    // Lines are "ID:CONTROLLERS:PATH".
    auto first = line.find(':');
    auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) {
      for (const std::string& base :
           {std::string("/sys/fs/cgroup") + path, std::string("/sys/fs/cgroup")}) {
        if (auto text = read_first_line(base + "/cpu.max")) {
          keep(cpus_from_cgroup_v2(*text));
          break;
        }
      }
    } else if (controllers.find("cpu") != std::string::npos) {
      for (const std::string& base :
           {std::string("/sys/fs/cgroup/cpu,cpuacct") + path,
            std::string("/sys/fs/cgroup/cpu") + path, std::string("/sys/fs/cgroup/cpu,cpuacct"),
            std::string("/sys/fs/cgroup/cpu")}) {
        auto quota = read_first_line(base + "/cpu.cfs_quota_us");
        auto period = read_first_line(base + "/cpu.cfs_period_us");
        if (quota && period) {
          try {
            keep(cpus_from_cgroup_v1(std::stoll(*quota), std::stoll(*period)));
          } catch (const std::exception&) {
          }
          break;
        }
      }
    }
  }
  return best;
}

}  // namespace

std::optional<int> cpus_from_cgroup_v2(const std::string& cpu_max) {
  std::istringstream in(cpu_max);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  try {
    return cpus_from_cgroup_v1(std::stoll(quota), period);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<int> cpus_from_cgroup_v1(long long quota_us, long long period_us) {
  if (quota_us <= 0 || period_us <= 0) return std::nullopt;
  return static_cast<int>(std::max<long long>(1, (quota_us + period_us - 1) / period_us));
}

int usable_cpus() {
  int cpus = 1;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
  if (auto quota = cgroup_quota_cpus()) cpus = std::min(cpus, *quota);
  return std::max(1, cpus);
}

std::optional<int> parse_thread_count_variable(const std::string& name, const char* value) {
  if (value == nullptr || *value == '\0') return std::nullopt;
  std::string_view text(value);
  // OpenMP allows a list, one count per nesting level: only the outer level's matters here.
  if (name == "OMP_NUM_THREADS") text = text.substr(0, text.find(','));
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  int count = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || count < 1) {
    throw Error(name + "='" + value + "': expected a positive number of threads");
  }
  return count;
}

int default_threads(const char* refusal_num_threads, const char* omp_num_threads, int usable) {
  if (auto n = parse_thread_count_variable("REFUSAL_NUM_THREADS", refusal_num_threads)) return *n;
  if (auto n = parse_thread_count_variable("OMP_NUM_THREADS", omp_num_threads)) return *n;
  return std::max(1, usable);
}

int default_threads() {
  return default_threads(std::getenv("REFUSAL_NUM_THREADS"), std::getenv("OMP_NUM_THREADS"),
                         usable_cpus());
}

}  // namespace refusal::base
