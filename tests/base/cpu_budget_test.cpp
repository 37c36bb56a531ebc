#include "base/cpu_budget.h"

#include <gtest/gtest.h>
#include <sched.h>

namespace refusal::base {
namespace {

TEST(CpuBudget, ParsesCgroupV2Quota) {
  EXPECT_EQ(cpus_from_cgroup_v2("max 100000"), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup_v2("200000 100000"), 2);
  EXPECT_EQ(cpus_from_cgroup_v2("150000 100000"), 2);  // 1.5 CPUs rounds up
  EXPECT_EQ(cpus_from_cgroup_v2("50000 100000"), 1);
  EXPECT_EQ(cpus_from_cgroup_v2("garbage"), std::nullopt);
}

TEST(CpuBudget, ParsesCgroupV1Quota) {
  EXPECT_EQ(cpus_from_cgroup_v1(-1, 100000), std::nullopt);
  EXPECT_EQ(cpus_from_cgroup_v1(400000, 100000), 4);
}

TEST(CpuBudget, NeverMoreThanTheAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  const int usable = usable_cpus();
  EXPECT_GE(usable, 1);
  EXPECT_LE(usable, CPU_COUNT(&set));
}

TEST(CpuBudget, FollowsANarrowedAffinityMask) {
  cpu_set_t original;
  ASSERT_EQ(sched_getaffinity(0, sizeof(original), &original), 0);
  int first = -1;
  for (int i = 0; i < CPU_SETSIZE && first < 0; ++i) {
    if (CPU_ISSET(i, &original)) first = i;
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(usable_cpus(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(original), &original), 0);
}

}  // namespace
}  // namespace refusal::base
