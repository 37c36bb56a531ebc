// A one-line progress bar on stderr: rows done, rows/s, and ETA when the input size is known.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace refusal::io {

enum class ProgressMode { automatic, always, never };

// Draws on a terminal only: with mode automatic, only when the file descriptor is a TTY, so
// logs and pipes stay clean. Redrawn at most ten times a second; cleared by finish().
class ProgressBar {
 public:
  explicit ProgressBar(ProgressMode mode, int fd = 2);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  bool enabled() const { return enabled_; }
  // `rows`: rows done in all; `fraction`: share of the input done (0..1), nullopt when unknown.
  void update(std::size_t rows, std::optional<double> fraction, bool force = false);
  // Erases the bar (the summary, if any, is the caller's to print).
  void finish();

  // The bar's text, e.g. "[#####     ] 51%  102,400 rows  3,201 rows/s  ETA 0:31".
  static std::string format(std::size_t rows, double rows_per_s, std::optional<double> fraction,
                            std::optional<double> eta_s);

 private:
  using Clock = std::chrono::steady_clock;

  bool enabled_ = false;
  int fd_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  std::optional<std::size_t> first_rows_;  // rows done at the first update (resume)
  std::optional<double> first_fraction_;
};

}  // namespace refusal::io
