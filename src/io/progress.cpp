#include "io/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace refusal::io {

namespace {

std::string with_commas(std::size_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string duration(double seconds) {
  const auto s = static_cast<long long>(std::llround(std::max(0.0, seconds)));
  char text[32];
  if (s >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", s / 60, s % 60);
  }
  return text;
}

}  // namespace

ProgressBar::ProgressBar(ProgressMode mode, int fd) : fd_(fd) {
  enabled_ = mode == ProgressMode::always || (mode == ProgressMode::automatic && ::isatty(fd) == 1);
  start_ = Clock::now();
  last_draw_ = start_;
}

ProgressBar::~ProgressBar() { finish(); }

std::string ProgressBar::format(std::size_t rows, double rows_per_s, std::optional<double> fraction,
                                std::optional<double> eta_s) {
  std::string out;
  if (fraction) {
    const double f = std::clamp(*fraction, 0.0, 1.0);
    constexpr int kWidth = 20;
    const int filled = static_cast<int>(f * kWidth);
    out += '[' + std::string(static_cast<std::size_t>(filled), '#') +
           std::string(static_cast<std::size_t>(kWidth - filled), ' ') + "] ";
    out += std::to_string(static_cast<int>(f * 100)) + "%  ";
  }
  out += with_commas(rows) + " rows  ";
  out += with_commas(static_cast<std::size_t>(std::max(0.0, rows_per_s))) + " rows/s";
  if (eta_s) out += "  ETA " + duration(*eta_s);
  return out;
}

void ProgressBar::update(std::size_t rows, std::optional<double> fraction, bool force) {
  if (!enabled_) return;
  const auto now = Clock::now();
  if (!first_rows_) {
    // Rates count this run only: rows skipped by a resume are not work done now.
    first_rows_ = rows;
    first_fraction_ = fraction;
  }
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? static_cast<double>(rows - *first_rows_) / elapsed : 0.0;
  std::optional<double> eta;
  if (fraction && first_fraction_ && *fraction > *first_fraction_ && elapsed > 0.5) {
    const double speed = (*fraction - *first_fraction_) / elapsed;
    eta = (1.0 - std::min(1.0, *fraction)) / speed;
  }
  std::string line(1, '\r');  // built by appends: GCC 12 warns falsely on "\r" + string
  line += format(rows, rate, fraction, eta);
  line += "\x1b[K";
  // Best effort: a failing terminal must not fail the job.
  [[maybe_unused]] const auto put = ::write(fd_, line.data(), line.size());
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  static constexpr char kClear[] = "\r\x1b[K";
  [[maybe_unused]] const auto put = ::write(fd_, kClear, sizeof kClear - 1);
  drawn_ = false;
}

}  // namespace refusal::io
