// The progress bar: its text, and that it stays quiet when not on a terminal.
#include "io/progress.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "io/batch_job.h"
#include "io/io_test_support.h"
#include "test_support.h"

namespace refusal::io {
namespace {

TEST(Progress, Format) {
  EXPECT_EQ(ProgressBar::format(102400, 3201.7, 0.512, 31.4),
            "[##########          ] 51%  102,400 rows  3,201 rows/s  ETA 0:31");
  EXPECT_EQ(ProgressBar::format(5, 0, std::nullopt, std::nullopt), "5 rows  0 rows/s");
  EXPECT_EQ(ProgressBar::format(1, 1, 1.0, 3725.0),
            "[####################] 100%  1 rows  1 rows/s  ETA 1:02:05");
}

TEST(Progress, QuietWhenNotATerminal) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    ProgressBar bar(ProgressMode::automatic, fds[1]);
    EXPECT_FALSE(bar.enabled());
    bar.update(10, 0.5, true);
  }
  {
    ProgressBar forced(ProgressMode::always, fds[1]);
    forced.update(10, 0.5, true);
    forced.finish();
  }
  ::close(fds[1]);
  std::string got;
  char buffer[256];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) got.append(buffer, n);
  ::close(fds[0]);
  EXPECT_EQ(got.rfind("\r[##########          ] 50%  10 rows", 0), 0u) << got;
  EXPECT_EQ(got.substr(got.size() - 4), "\r\x1b[K");  // cleared at the end
}

TEST(Progress, DrawnDuringAJob) {
  refusal::testing::TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  JobOptions options;
  options.progress = ProgressMode::always;
  options.progress_fd = fds[1];
  const auto counts =
      testing::run_job("tests/data/io/broken.jsonl", (dir / "o.jsonl").string(),
                       OutputFormat::jsonl, false, options, testing::length_classifier);
  ::close(fds[1]);
  std::string got;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) got.append(buffer, n);
  ::close(fds[0]);
  EXPECT_EQ(counts.rows, 11u);
  EXPECT_NE(got.find("11 rows"), std::string::npos) << got;
  EXPECT_NE(got.find("100%"), std::string::npos) << got;
}

}  // namespace
}  // namespace refusal::io
