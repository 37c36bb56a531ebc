// How many CPUs this process may really use.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace refusal::base {

// The CPUs this process may run on (sched_getaffinity), further limited by a cgroup CPU quota
// (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us), rounded up; at least 1.
// Containers often see the host's core count but get a quota of a few CPUs: threads beyond the
// quota only add contention.
int usable_cpus();

// The thread count that `threads = 0` means, in every front end (CLI, server, Python, training):
// $REFUSAL_NUM_THREADS when set, else $OMP_NUM_THREADS (how Ray, Spark and Dask tell a worker
// its CPU share), else usable_cpus(). A variable set to an empty string counts as unset; any
// other value that is not a positive count throws refusal::Error naming the variable.
int default_threads();

// default_threads() with the two variables' values given (nullptr: unset) and usable_cpus()'s
// answer: the order and the parsing, without the environment.
int default_threads(const char* refusal_num_threads, const char* omp_num_threads, int usable);

// A thread count from the environment variable `name`: a positive integer, or for
// OMP_NUM_THREADS also OpenMP's list of counts per nesting level ("4,2": the first is the outer
// level's). nullopt when `value` is nullptr or empty; refusal::Error naming the variable when
// it is anything else.
std::optional<int> parse_thread_count_variable(const std::string& name, const char* value);

// The CPU count a cgroup quota allows, from a cgroup v2 `cpu.max` text ("max 100000" or
// "200000 100000"); nullopt when there is no limit or the text is not understood.
std::optional<int> cpus_from_cgroup_v2(const std::string& cpu_max);

// Same for cgroup v1's quota and period (quota -1 means no limit).
std::optional<int> cpus_from_cgroup_v1(long long quota_us, long long period_us);

}  // namespace refusal::base
