// Bounded memory: a 200,000-row .jsonl.gz runs through a whole job in a child process whose
// peak RSS (getrusage ru_maxrss via wait4) must stay far below the file's size in memory.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/batch_job.h"
#include "io/io_test_support.h"
#include "test_support.h"

namespace refusal::io {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // ASan's shadow memory and quarantine inflate RSS
#else
constexpr bool kSanitized = false;
#endif

std::size_t row_count() {
  if (const char* env = std::getenv("REFUSAL_IO_MEMORY_ROWS")) return std::stoul(env);
  return kSanitized ? 20000 : 200000;
}

// 8 to 100 pseudo-random words, so the file compresses like real text rather than to nothing.
std::string make_text(std::size_t row) {
  static const char* const kWords[] = {"I",    "cannot", "help",    "with",  "that",   "sure",
                                       "here", "is",     "a",       "short", "story",  "about",
                                       "the",  "sea",    "sorry",   "but",   "policy", "recipe",
                                       "for",  "bread",  "weather", "today", "é",      "世界"};
  std::uint64_t state = row * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const std::size_t words = 8 + next() % 93;
  std::string text = "Row " + std::to_string(row) + ":";
  for (std::size_t w = 0; w < words; ++w) {
    text += ' ';
    text += kWords[next() % (sizeof kWords / sizeof kWords[0])];
  }
  return text;
}

// Peak RSS in MiB of a child that runs `body`.
template <typename Body>
double child_peak_mib(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 0;
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child failed: %s\n", e.what());
      code = 1;
    }
    ::_exit(code);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

TEST(BatchJobMemory, LargeGzipJsonlInBoundedMemory) {
  refusal::testing::TempDir dir;
  const auto input = dir / "big.jsonl.gz";
  const std::size_t rows = row_count();
  {
    // Written in pieces so the parent stays small too.
    gzFile f = gzopen(input.c_str(), "wb1");
    ASSERT_NE(f, nullptr);
    std::string piece;
    for (std::size_t i = 0; i < rows; ++i) {
      testing::Json row = testing::Json::object();
      row["id"] = i;
      row["text"] = make_text(i);
      row["source"] = "bench";
      piece += row.dump() + "\n";
      if (piece.size() > (1u << 20) || i + 1 == rows) {
        gzwrite(f, piece.data(), static_cast<unsigned>(piece.size()));
        piece.clear();
      }
    }
    gzclose(f);
  }
  const auto output = dir / "out.jsonl";
  const double baseline = child_peak_mib([] {});
  const double peak = child_peak_mib([&] {
    JobOptions options;
    options.progress = ProgressMode::never;
    auto trivial = [](std::span<const std::string_view> texts) {
      std::vector<testing::Json> out(texts.size());
      for (std::size_t i = 0; i < texts.size(); ++i) {
        out[i] = {{"label", "normal"}, {"score", 0.5}, {"refusal", false}};
      }
      return out;
    };
    const auto counts = testing::run_job(input.string(), output.string(), OutputFormat::jsonl,
                                         false, options, trivial);
    if (counts.rows != rows || counts.errors != 0) throw std::runtime_error("wrong counts");
  });
  const auto in_bytes = std::filesystem::file_size(input);
  const auto out_bytes = std::filesystem::file_size(output);
  std::printf(
      "rows %zu, input %.1f MiB gzip, output %.1f MiB; peak RSS %.1f MiB "
      "(an empty child: %.1f MiB)\n",
      rows, static_cast<double>(in_bytes) / 1048576.0, static_cast<double>(out_bytes) / 1048576.0,
      peak, baseline);
  EXPECT_GT(out_bytes, in_bytes);
  if (!kSanitized) {
    EXPECT_LT(peak, 200.0);
  }
}

}  // namespace
}  // namespace refusal::io
