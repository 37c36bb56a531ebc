// How many CPUs this process may really use.
#pragma once

#include <filesystem>
#include <optional>

namespace refusal::base {

// The CPUs this process may run on (sched_getaffinity), further limited by a cgroup CPU quota
// (cgroup v2 cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us), rounded up; at least 1.
// Containers often see the host's core count but get a quota of a few CPUs: threads beyond the
// quota only add contention.
int usable_cpus();

// The CPU count a cgroup quota allows, from a cgroup v2 `cpu.max` text ("max 100000" or
// "200000 100000"); nullopt when there is no limit or the text is not understood.
std::optional<int> cpus_from_cgroup_v2(const std::string& cpu_max);

// Same for cgroup v1's quota and period (quota -1 means no limit).
std::optional<int> cpus_from_cgroup_v1(long long quota_us, long long period_us);

}  // namespace refusal::base
