#include "mrv/report/gauge.hpp"

#include <algorithm>

namespace mrv::report {
namespace {
constexpr double kMsPerHour = 3'600'000.0;
}

GaugeAggregator::GaugeAggregator(int64_t start_ms, int64_t end_ms, int64_t max_gap_ms, GapRule rule, double substitute)
    : start_ms_(start_ms), end_ms_(end_ms), max_gap_ms_(max_gap_ms), rule_(rule), substitute_(substitute) {}

void GaugeAggregator::push(const GaugeReading& r) {
  if (r.ts_ms < start_ms_ || r.ts_ms >= end_ms_) return;
  if (!readings_.empty() && r.ts_ms <= readings_.back().ts_ms) return;  // one value per instant
  readings_.push_back(r);
}

void GaugeAggregator::gap(int64_t from_ms, int64_t to_ms, GaugeSummary& s) const {
  double hours = static_cast<double>(to_ms - from_ms) / kMsPerHour;
  double counted = rule_ == GapRule::substitute ? substitute_ * hours : 0.0;
  s.integral += counted;
  s.gaps.push_back({from_ms, to_ms, counted});
}

GaugeSummary GaugeAggregator::finish() const {
  GaugeSummary s;
  s.readings = readings_.size();
  if (readings_.empty()) {
    gap(start_ms_, end_ms_, s);
    return s;
  }
  double covered_integral = 0;  // over the covered time only, for the mean
  auto hold = [&](int64_t from, int64_t to, double value) {
    double h = static_cast<double>(to - from) / kMsPerHour;
    covered_integral += value * h;
    s.covered_h += h;
  };
  const GaugeReading& first = readings_.front();
  if (first.ts_ms - start_ms_ > max_gap_ms_ / 2) gap(start_ms_, first.ts_ms, s);
  else hold(start_ms_, first.ts_ms, first.value);
  for (size_t i = 1; i < readings_.size(); ++i) {
    const GaugeReading &a = readings_[i - 1], &b = readings_[i];
    if (b.ts_ms - a.ts_ms > max_gap_ms_) {
      gap(a.ts_ms, b.ts_ms, s);
      continue;
    }
    double h = static_cast<double>(b.ts_ms - a.ts_ms) / kMsPerHour;
    covered_integral += (a.value + b.value) / 2 * h;
    s.covered_h += h;
  }
  const GaugeReading& last = readings_.back();
  if (end_ms_ - last.ts_ms > max_gap_ms_ / 2) gap(last.ts_ms, end_ms_, s);
  else hold(last.ts_ms, end_ms_, last.value);
  s.integral += covered_integral;
  if (s.covered_h > 0) s.mean = covered_integral / s.covered_h;
  auto [lo, hi] = std::minmax_element(readings_.begin(), readings_.end(),
                                      [](const GaugeReading& x, const GaugeReading& y) { return x.value < y.value; });
  s.min = lo->value;
  s.max = hi->value;
  return s;
}

}  // namespace mrv::report
