#pragma once
// What a gauge (power, flow, temperature) gives over a period: its time integral, its
// time-weighted mean, and its min and max. Between two readings no further apart than
// max_gap_ms the gauge is taken as linear (trapezoid); an interval longer than that, and
// the stretch from the period's start to the first reading or from the last to its end
// when longer than max_gap_ms / 2, is a gap. A gap counts as the configured rule says:
// zero (conservative for a parameter that is credited) or a documented substitute value.
// Shorter edges hold the nearest reading. Time is in hours, so the integral of kW is kWh.
// Given the local midnights inside the period, it also cuts all of that into days: a
// trapezoid across a midnight at the value interpolated there, gaps and edges by time.
#include <cstdint>
#include <optional>
#include <vector>

#include "mrv/core/config.hpp"

namespace mrv::report {

struct GaugeReading {
  uint64_t seq = 0;
  int64_t ts_ms = 0;
  double value = 0;
  bool out_of_calibration = false;  // not covered by a passing calibration
  double correction_percent = 0;     // then: the correction it needs (the class, or the error found)
};

struct GaugeGap {
  int64_t from_ms = 0, to_ms = 0;
  double counted = 0;  // what the rule put in for it (value unit × h)
};

// One day of the period (cut at the midnights the aggregator was given).
struct GaugeDay {
  int64_t from_ms = 0, to_ms = 0;
  double integral = 0;          // its part of the integral (value unit × h)
  double covered_integral = 0;  // over its covered time, for its mean
  double covered_h = 0;
  std::optional<double> mean, min, max;  // over its covered time / its readings
};

struct GaugeSummary {
  double integral = 0;   // value unit × h, gaps included as their rule says
  std::optional<double> mean, min, max;  // over the covered time / the readings; none without readings
  uint64_t readings = 0;
  double covered_h = 0;  // hours not in a gap
  double out_of_calibration = 0;  // the part of the integral next to an out-of-calibration reading
  double correction = 0;          // Σ such a part × the larger correction % of its readings / 100
  std::vector<GaugeGap> gaps;
  std::vector<GaugeDay> days;     // the period cut at the midnights given (one day without)
};

class GaugeAggregator {
 public:
  // midnights: where the days of the period start, after its start, in time order.
  GaugeAggregator(int64_t start_ms, int64_t end_ms, int64_t max_gap_ms, GapRule rule, double substitute,
                  const std::vector<int64_t>& midnights = {});
  // Readings in time order, inside [start, end); others, and a reading not later than
  // the previous one, are ignored. Memory does not grow with the readings.
  void push(const GaugeReading& reading);
  GaugeSummary finish() const;

 private:
  // `day`: the day `from_ms` is in (the days of a stretch follow it).
  void gap(size_t day, int64_t from_ms, int64_t to_ms, GaugeSummary& s) const;
  double hold(size_t day, int64_t from_ms, int64_t to_ms, const GaugeReading& r, GaugeSummary& s) const;
  void spread(size_t day, int64_t from_ms, int64_t to_ms, double v_from, double v_to, bool covered,
              GaugeSummary& s) const;

  int64_t start_ms_, end_ms_, max_gap_ms_;
  GapRule rule_;
  double substitute_;
  std::optional<GaugeReading> first_, last_;
  size_t day_ = 0;               // the day of last_ (readings in time order: it only moves forward)
  double covered_integral_ = 0;  // over the covered time between readings, for the mean
  GaugeSummary sum_;             // readings, covered_h, gaps, min, max, out_of_calibration so far
};

}  // namespace mrv::report
