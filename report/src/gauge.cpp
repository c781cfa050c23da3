#include "mrv/report/gauge.hpp"

#include <algorithm>
#include <cmath>

namespace mrv::report {
namespace {
constexpr double kMsPerHour = 3'600'000.0;
double hours(int64_t from_ms, int64_t to_ms) { return static_cast<double>(to_ms - from_ms) / kMsPerHour; }
}  // namespace

GaugeAggregator::GaugeAggregator(int64_t start_ms, int64_t end_ms, int64_t max_gap_ms, GapRule rule, double substitute)
    : start_ms_(start_ms), end_ms_(end_ms), max_gap_ms_(max_gap_ms), rule_(rule), substitute_(substitute) {}

void GaugeAggregator::gap(int64_t from_ms, int64_t to_ms, GaugeSummary& s) const {
  double counted = rule_ == GapRule::substitute ? substitute_ * hours(from_ms, to_ms) : 0.0;
  s.integral += counted;
  s.gaps.push_back({from_ms, to_ms, counted});
}

// An edge of the period shorter than half the gap limit: the nearest reading holds.
// Returns what it added.
double GaugeAggregator::hold(int64_t from_ms, int64_t to_ms, const GaugeReading& r, GaugeSummary& s) const {
  double h = hours(from_ms, to_ms), part = r.value * h;
  s.integral += part;
  s.covered_h += h;
  if (r.out_of_calibration) {
    s.out_of_calibration += part;
    s.correction += std::abs(part) * r.correction_percent / 100;
  }
  return part;
}

void GaugeAggregator::push(const GaugeReading& r) {
  if (r.ts_ms < start_ms_ || r.ts_ms >= end_ms_) return;
  if (last_ && r.ts_ms <= last_->ts_ms) return;  // one value per instant, in time order
  ++sum_.readings;
  sum_.min = std::min(sum_.min.value_or(r.value), r.value);
  sum_.max = std::max(sum_.max.value_or(r.value), r.value);
  if (!last_) {
    first_ = r;
  } else if (r.ts_ms - last_->ts_ms > max_gap_ms_) {
    gap(last_->ts_ms, r.ts_ms, sum_);
  } else {
    double h = hours(last_->ts_ms, r.ts_ms), part = (last_->value + r.value) / 2 * h;
    covered_integral_ += part;
    sum_.integral += part;
    sum_.covered_h += h;
    if (last_->out_of_calibration || r.out_of_calibration) {
      sum_.out_of_calibration += part;
      sum_.correction += std::abs(part) * std::max(last_->correction_percent, r.correction_percent) / 100;
    }
  }
  last_ = r;
}

GaugeSummary GaugeAggregator::finish() const {
  GaugeSummary s = sum_;
  if (!first_) {
    gap(start_ms_, end_ms_, s);
    return s;
  }
  // The edges: gaps (listed in time order) or held by the nearest reading.
  double covered_integral = covered_integral_;
  if (first_->ts_ms - start_ms_ > max_gap_ms_ / 2) {
    GaugeSummary edge;
    gap(start_ms_, first_->ts_ms, edge);
    s.integral += edge.integral;
    s.gaps.insert(s.gaps.begin(), edge.gaps.front());
  } else {
    covered_integral += hold(start_ms_, first_->ts_ms, *first_, s);
  }
  if (end_ms_ - last_->ts_ms > max_gap_ms_ / 2) gap(last_->ts_ms, end_ms_, s);
  else covered_integral += hold(last_->ts_ms, end_ms_, *last_, s);
  if (s.covered_h > 0) s.mean = covered_integral / s.covered_h;
  return s;
}

}  // namespace mrv::report
