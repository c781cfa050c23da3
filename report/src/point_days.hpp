#pragma once
// The local calendar days of a report's period for one point (report.hpp, DayValue), and
// the day of each reading without a search: readings come in time order.
#include <cstdint>
#include <string>
#include <vector>

#include "mrv/report/report.hpp"

namespace mrv::report {

class PointDays {
 public:
  // Every local day of `time_zone` (UTC when unknown) overlapping [start, end), clipped.
  PointDays(const std::string& time_zone, int64_t start_ms, int64_t end_ms);
  // The local midnights strictly inside the period, in time order.
  std::vector<int64_t> midnights() const;
  // The day of an instant, clamped into the period. Instants in time order only move the
  // cursor forward (the per-reading path: no search, no allocation).
  DayValue& at(int64_t ts_ms) {
    const DayValue& d = days_[current_];
    if (ts_ms < d.from_ms || ts_ms >= d.to_ms) seek(ts_ms);
    return days_[current_];
  }
  const std::vector<DayValue>& days() const { return days_; }

 private:
  void seek(int64_t ts_ms);
  std::vector<DayValue> days_;
  size_t current_ = 0;
};

// Adds the hours of [from, to) to the days it overlaps.
void add_gap_hours(std::vector<DayValue>& days, int64_t from_ms, int64_t to_ms);

}  // namespace mrv::report
