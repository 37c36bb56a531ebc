// `refusal classify` writing to a disk that fills up or fails: a clear error naming the output
// file, exit code 1, and `--resume` once there is space again completes the output with every
// row exactly once (byte for byte what one uninterrupted run writes). Three ways to fail:
// /dev/full (every write fails), a file-size limit (RLIMIT_FSIZE, in the child only) and, where
// mounting is permitted, a small tmpfs that fills up and is then grown.
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "test_support.h"

namespace refusal {
namespace {

namespace fs = std::filesystem;

const std::string kEval = "data/eval/chatgpt-refusals.jsonl.gz";  // 1,706 rows

std::string binary() {
  const char* bin = std::getenv("REFUSAL_BINARY");
  return bin ? bin : "build/release/refusal";
}

// Runs `sh -c command` in a child whose files may grow to `max_file_bytes` at most (0: no
// limit); a write past the limit fails with EFBIG instead of killing it (SIGXFSZ ignored).
// Returns the exit code, or -1 when it did not exit.
int run(const std::string& command, rlim_t max_file_bytes = 0) {
  const pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) {
    if (max_file_bytes > 0) {
      const rlimit limit{max_file_bytes, max_file_bytes};
      if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(126);
      signal(SIGXFSZ, SIG_IGN);
    }
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_text(dir_ / "in.jsonl", testing::read_decompressed(kEval));
    ASSERT_EQ(run(job(dir_ / "whole.jsonl")), 0);
    whole_ = testing::read_text(dir_ / "whole.jsonl");
    ASSERT_GT(whole_.size(), 100'000u);
  }

  // The keywords preset needs no model: the output path is the same as a model's.
  std::string job(const fs::path& output, const std::string& extra = "") const {
    return binary() + " classify --preset keywords --progress never --chunk-rows 100 --input " +
           (dir_ / "in.jsonl").string() + " --output " + output.string() + extra + " 2>" +
           (dir_ / "err.txt").string();
  }

  std::string error() const { return testing::read_text(dir_ / "err.txt"); }

  testing::TempDir dir_;
  std::string whole_;
};

TEST_F(FullDisk, DevFullFailsNamingTheOutput) {
  EXPECT_EQ(run(job("/dev/full")), 1);
  EXPECT_NE(error().find("cannot write /dev/full: No space left on device"), std::string::npos)
      << error();
  // stdout on a full device too.
  const std::string to_stdout = binary() + " classify --preset keywords --input " +
                                (dir_ / "in.jsonl").string() + " >/dev/full 2>" +
                                (dir_ / "err.txt").string();
  EXPECT_EQ(run(to_stdout), 1);
  EXPECT_NE(error().find("cannot write <stdout>: No space left on device"), std::string::npos)
      << error();
}

TEST_F(FullDisk, FileSizeLimitThenResumeWritesEveryRowOnce) {
  const fs::path out = dir_ / "out.jsonl";
  const rlim_t limit = whole_.size() / 3;
  EXPECT_EQ(run(job(out), limit), 1);
  EXPECT_NE(error().find("cannot write " + out.string() + ": File too large"), std::string::npos)
      << error();
  EXPECT_LE(fs::file_size(out), limit);
  EXPECT_LT(fs::file_size(out), whole_.size());
  // The limit gone ("space returns"): the job picks up after the last complete record.
  ASSERT_EQ(run(job(out, " --resume")), 0) << error();
  EXPECT_EQ(testing::read_text(out), whole_);
}

// In a child with its own mount namespace (the tmpfs vanishes with it): a 64 KiB tmpfs fills
// up, then is grown and the job resumed. Exit codes: 0 done, 77 mounting not permitted, other
// codes say which step failed.
TEST_F(FullDisk, FullTmpfsThenResumeWritesEveryRowOnce) {
  const fs::path mnt = dir_ / "mnt";
  fs::create_directory(mnt);
  const fs::path out = mnt / "out.jsonl";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) ||
        mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0) {
      testing::write_text(dir_ / "why.txt", std::strerror(errno));
      _exit(77);
    }
    if (run(job(out)) != 1) _exit(1);
    testing::write_text(dir_ / "first_error.txt", error());
    testing::write_text(dir_ / "partial_bytes.txt", std::to_string(fs::file_size(out)));
    if (mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT, "size=16m") != 0) _exit(2);
    if (run(job(out, " --resume")) != 0) _exit(3);
    testing::write_text(dir_ / "resumed.jsonl", testing::read_text(out));
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << testing::read_text(dir_ / "why.txt")
                 << "); the file-size-limit test covers the same path";
  }
  ASSERT_EQ(WEXITSTATUS(status), 0) << "step failed; stderr: " << error();
  const std::string first = testing::read_text(dir_ / "first_error.txt");
  EXPECT_NE(first.find("cannot write " + out.string() + ": No space left on device"),
            std::string::npos)
      << first;
  EXPECT_LT(std::stoul(testing::read_text(dir_ / "partial_bytes.txt")), whole_.size());
  EXPECT_EQ(testing::read_text(dir_ / "resumed.jsonl"), whole_);
}

}  // namespace
}  // namespace refusal
