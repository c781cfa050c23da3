#include "mrv/report/gauge.hpp"

#include <algorithm>
#include <cmath>

namespace mrv::report {
namespace {
constexpr double kMsPerHour = 3'600'000.0;
double hours(int64_t from_ms, int64_t to_ms) { return static_cast<double>(to_ms - from_ms) / kMsPerHour; }

void add_covered(GaugeDay& d, double part, double h) {
  d.integral += part;
  d.covered_integral += part;
  d.covered_h += h;
}
}  // namespace

GaugeAggregator::GaugeAggregator(int64_t start_ms, int64_t end_ms, int64_t max_gap_ms, GapRule rule, double substitute,
                                 const std::vector<int64_t>& midnights)
    : start_ms_(start_ms), end_ms_(end_ms), max_gap_ms_(max_gap_ms), rule_(rule), substitute_(substitute) {
  auto add_day = [&](int64_t from, int64_t to) {
    GaugeDay d;
    d.from_ms = from;
    d.to_ms = to;
    sum_.days.push_back(d);
  };
  int64_t from = start_ms;
  for (int64_t m : midnights) {
    if (m <= from || m >= end_ms) continue;
    add_day(from, m);
    from = m;
  }
  add_day(from, end_ms);
}

// A stretch [from, to) whose value runs linearly from v_from to v_to, into the days it
// crosses from `day` on: cut at each midnight at the value interpolated there.
void GaugeAggregator::spread(size_t day, int64_t from_ms, int64_t to_ms, double v_from, double v_to, bool covered,
                             GaugeSummary& s) const {
  int64_t a = from_ms;
  double va = v_from;
  for (size_t i = day; a < to_ms && i < s.days.size(); ++i) {
    GaugeDay& d = s.days[i];
    int64_t b = std::min(to_ms, d.to_ms);
    double vb = b == to_ms ? v_to
                           : v_from + (v_to - v_from) * (static_cast<double>(b - from_ms) /
                                                         static_cast<double>(to_ms - from_ms));
    double h = hours(a, b), part = (va + vb) / 2 * h;
    if (covered) add_covered(d, part, h);
    else d.integral += part;
    a = b;
    va = vb;
  }
}

void GaugeAggregator::gap(size_t day, int64_t from_ms, int64_t to_ms, GaugeSummary& s) const {
  double value = rule_ == GapRule::substitute ? substitute_ : 0.0;
  double counted = value * hours(from_ms, to_ms);
  s.integral += counted;
  s.gaps.push_back({from_ms, to_ms, counted});
  spread(day, from_ms, to_ms, value, value, false, s);
}

// An edge of the period shorter than half the gap limit: the nearest reading holds.
// Returns what it added.
double GaugeAggregator::hold(size_t day, int64_t from_ms, int64_t to_ms, const GaugeReading& r, GaugeSummary& s) const {
  double h = hours(from_ms, to_ms), part = r.value * h;
  s.integral += part;
  s.covered_h += h;
  if (r.out_of_calibration) {
    s.out_of_calibration += part;
    s.correction += std::abs(part) * r.correction_percent / 100;
  }
  spread(day, from_ms, to_ms, r.value, r.value, true, s);
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
    gap(day_, last_->ts_ms, r.ts_ms, sum_);
  } else {
    double h = hours(last_->ts_ms, r.ts_ms), part = (last_->value + r.value) / 2 * h;
    covered_integral_ += part;
    sum_.integral += part;
    sum_.covered_h += h;
    if (last_->out_of_calibration || r.out_of_calibration) {
      sum_.out_of_calibration += part;
      sum_.correction += std::abs(part) * std::max(last_->correction_percent, r.correction_percent) / 100;
    }
    if (r.ts_ms <= sum_.days[day_].to_ms) add_covered(sum_.days[day_], part, h);  // mostly: within a day
    else spread(day_, last_->ts_ms, r.ts_ms, last_->value, r.value, true, sum_);
  }
  while (r.ts_ms >= sum_.days[day_].to_ms) ++day_;  // the last day ends at end_ms_ > r.ts_ms
  GaugeDay& d = sum_.days[day_];
  d.min = std::min(d.min.value_or(r.value), r.value);
  d.max = std::max(d.max.value_or(r.value), r.value);
  last_ = r;
}

GaugeSummary GaugeAggregator::finish() const {
  GaugeSummary s = sum_;
  if (!first_) {
    gap(0, start_ms_, end_ms_, s);
    return s;
  }
  // The edges: gaps (listed in time order) or held by the nearest reading.
  double covered_integral = covered_integral_;
  if (first_->ts_ms - start_ms_ > max_gap_ms_ / 2) {
    GaugeSummary edge;
    edge.days = std::move(s.days);
    gap(0, start_ms_, first_->ts_ms, edge);
    s.integral += edge.integral;
    s.gaps.insert(s.gaps.begin(), edge.gaps.front());
    s.days = std::move(edge.days);
  } else {
    covered_integral += hold(0, start_ms_, first_->ts_ms, *first_, s);
  }
  if (end_ms_ - last_->ts_ms > max_gap_ms_ / 2) gap(day_, last_->ts_ms, end_ms_, s);
  else covered_integral += hold(day_, last_->ts_ms, end_ms_, *last_, s);
  if (s.covered_h > 0) s.mean = covered_integral / s.covered_h;
  for (GaugeDay& d : s.days)
    if (d.covered_h > 0) d.mean = d.covered_integral / d.covered_h;
  return s;
}

}  // namespace mrv::report
