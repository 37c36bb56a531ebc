#include "base/cpu_budget.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "refusal/error.h"

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

TEST(DefaultThreads, RefusalNumThreadsThenOmpNumThreadsThenUsableCpus) {
  EXPECT_EQ(default_threads("3", "5", 2), 3);
  EXPECT_EQ(default_threads(nullptr, "5", 2), 5);
  EXPECT_EQ(default_threads(nullptr, nullptr, 2), 2);
  EXPECT_EQ(default_threads("", "", 7), 7);  // set but empty counts as unset
  EXPECT_EQ(default_threads("", "1", 7), 1);
  EXPECT_EQ(default_threads("2", "nonsense", 1), 2);  // the first one set decides alone
  EXPECT_EQ(default_threads(nullptr, nullptr, 0), 1);
}

TEST(DefaultThreads, ParsesCountsAndOpenMpLists) {
  EXPECT_EQ(parse_thread_count_variable("REFUSAL_NUM_THREADS", "8"), 8);
  EXPECT_EQ(parse_thread_count_variable("REFUSAL_NUM_THREADS", " 4 "), 4);
  EXPECT_EQ(parse_thread_count_variable("OMP_NUM_THREADS", "4,2"), 4);  // outer level's count
  EXPECT_EQ(parse_thread_count_variable("OMP_NUM_THREADS", "1"), 1);
  EXPECT_EQ(parse_thread_count_variable("OMP_NUM_THREADS", nullptr), std::nullopt);
  EXPECT_EQ(parse_thread_count_variable("OMP_NUM_THREADS", ""), std::nullopt);
}

TEST(DefaultThreads, ABadValueIsAnErrorNamingTheVariable) {
  for (const char* bad : {"0", "-2", "two", "2.5", "3x", "99999999999", " ", "4,2"}) {
    try {
      parse_thread_count_variable("REFUSAL_NUM_THREADS", bad);
      ADD_FAILURE() << "accepted REFUSAL_NUM_THREADS=" << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), std::string("REFUSAL_NUM_THREADS='") + bad +
                                           "': expected a positive number of threads");
    }
  }
  for (const char* bad : {"0", "x,2", ",4", "4;2"}) {
    EXPECT_THROW(parse_thread_count_variable("OMP_NUM_THREADS", bad), Error) << bad;
  }
  try {
    default_threads(nullptr, "auto", 4);
    ADD_FAILURE() << "accepted OMP_NUM_THREADS=auto";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("OMP_NUM_THREADS='auto'"), std::string::npos);
  }
}

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(DefaultThreads, ReadsTheEnvironment) {
  {
    ScopedEnv refusal("REFUSAL_NUM_THREADS", nullptr);
    ScopedEnv omp("OMP_NUM_THREADS", nullptr);
    EXPECT_EQ(default_threads(), usable_cpus());
  }
  {
    ScopedEnv refusal("REFUSAL_NUM_THREADS", nullptr);
    ScopedEnv omp("OMP_NUM_THREADS", "3");
    EXPECT_EQ(default_threads(), 3);
  }
  {
    ScopedEnv refusal("REFUSAL_NUM_THREADS", "5");
    ScopedEnv omp("OMP_NUM_THREADS", "3");
    EXPECT_EQ(default_threads(), 5);
  }
  {
    ScopedEnv refusal("REFUSAL_NUM_THREADS", "many");
    EXPECT_THROW(default_threads(), Error);
  }
}

}  // namespace
}  // namespace refusal::base
