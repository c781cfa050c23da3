#include "point_days.hpp"

#include <algorithm>

#include "mrv/core/time_zone.hpp"

namespace mrv::report {
namespace {

constexpr int64_t kHourMs = 3'600'000;

// The first day whose end is after the instant (the last day for an instant past them all).
size_t day_index(const std::vector<DayValue>& days, int64_t ts_ms) {
  auto it = std::upper_bound(days.begin(), days.end(), ts_ms,
                             [](int64_t t, const DayValue& d) { return t < d.to_ms; });
  return std::min(static_cast<size_t>(it - days.begin()), days.size() - 1);
}

}  // namespace

PointDays::PointDays(const std::string& time_zone, int64_t start_ms, int64_t end_ms) {
  TimeZone zone = TimeZone::locate(time_zone).value_or(TimeZone::utc());
  for (int64_t from = start_ms; from < end_ms;) {
    DayValue d;
    d.date = zone.local_date(from);
    // 36 h after a local midnight is always within the next day (days are 23 to 25 h).
    int64_t midnight = zone.midnight_ms(d.date).value_or(from);
    int64_t next = zone.midnight_ms(zone.local_date(midnight + 36 * kHourMs)).value_or(from + 24 * kHourMs);
    if (next <= from) next = from + 24 * kHourMs;  // never loop on a zone we cannot read
    d.from_ms = from;
    d.to_ms = std::min(next, end_ms);
    from = d.to_ms;
    days_.push_back(std::move(d));
  }
  if (days_.empty()) {  // an empty period (a config refuses one): an empty day keeps at() safe
    DayValue d;
    d.date = zone.local_date(start_ms);
    d.from_ms = d.to_ms = start_ms;
    days_.push_back(std::move(d));
  }
}

std::vector<int64_t> PointDays::midnights() const {
  std::vector<int64_t> out;
  for (size_t i = 1; i < days_.size(); ++i) out.push_back(days_[i].from_ms);
  return out;
}

void PointDays::seek(int64_t ts_ms) {
  if (ts_ms >= days_[current_].to_ms) {  // the next day, mostly
    while (current_ + 1 < days_.size() && ts_ms >= days_[current_].to_ms) ++current_;
    return;
  }
  current_ = day_index(days_, ts_ms);  // earlier: clamped into the first day at worst
}

void add_gap_hours(std::vector<DayValue>& days, int64_t from_ms, int64_t to_ms) {
  if (days.empty()) return;
  for (size_t i = day_index(days, from_ms); i < days.size() && days[i].from_ms < to_ms; ++i) {
    int64_t a = std::max(from_ms, days[i].from_ms), b = std::min(to_ms, days[i].to_ms);
    if (b > a) days[i].gap_hours += static_cast<double>(b - a) / static_cast<double>(kHourMs);
  }
}

}  // namespace mrv::report
