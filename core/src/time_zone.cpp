#include "mrv/core/time_zone.hpp"

#include <cstdio>
#include <regex>

#include <date/tz.h>

#include "mrv/core/time_text.hpp"

namespace mrv {
namespace {

using Ms = std::chrono::milliseconds;
using SysMs = std::chrono::time_point<std::chrono::system_clock, Ms>;

const date::time_zone* zone_of(const void* z) { return static_cast<const date::time_zone*>(z); }

date::year_month_day local_day(const date::time_zone* zone, int64_t utc_ms) {
  auto local = zone->to_local(SysMs(Ms(utc_ms)));
  return date::year_month_day(date::floor<date::days>(local));
}

}  // namespace

Result<TimeZone> TimeZone::locate(std::string_view name) {
  try {
    const date::time_zone* z = date::locate_zone(std::string(name));
    return TimeZone(std::string(name), z);
  } catch (const std::exception& e) {
    return fail(ErrorCode::invalid_argument, "time_zone",
                "'" + std::string(name) + "' is not a time zone of the tz database (like \"Asia/Tokyo\"): " + e.what());
  }
}

TimeZone TimeZone::utc() {
  static const TimeZone kUtc = *locate("UTC");
  return kUtc;
}

std::string TimeZone::local_date(int64_t utc_ms) const {
  auto d = local_day(zone_of(zone_), utc_ms);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()));
  return buf;
}

std::string TimeZone::local_minute(int64_t utc_ms) const {
  auto local = date::floor<std::chrono::minutes>(zone_of(zone_)->to_local(SysMs(Ms(utc_ms))));
  auto day = date::floor<date::days>(local);
  date::year_month_day d(day);
  auto minutes = (local - day).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02d:%02d", static_cast<int>(d.year()), static_cast<unsigned>(d.month()),
                static_cast<unsigned>(d.day()), static_cast<int>(minutes / 60), static_cast<int>(minutes % 60));
  return buf;
}

std::string TimeZone::jcm_date(int64_t utc_ms) const {
  auto d = local_day(zone_of(zone_), utc_ms);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u/%02u/%04d", static_cast<unsigned>(d.day()), static_cast<unsigned>(d.month()),
                static_cast<int>(d.year()));
  return buf;
}

Result<int64_t> TimeZone::midnight_ms(std::string_view date_text) const {
  static const std::regex kDate("([0-9]{4})-([0-9]{2})-([0-9]{2})");
  std::cmatch m;
  if (!std::regex_match(date_text.begin(), date_text.end(), m, kDate))
    return fail(ErrorCode::invalid_argument, "date", "'" + std::string(date_text) + "' is not a date (YYYY-MM-DD)");
  date::year_month_day ymd{date::year(std::stoi(m[1])), date::month(static_cast<unsigned>(std::stoi(m[2]))),
                           date::day(static_cast<unsigned>(std::stoi(m[3])))};
  if (!ymd.ok()) return fail(ErrorCode::invalid_argument, "date", "'" + std::string(date_text) + "' is no calendar date");
  date::local_days local{ymd};
  // A midnight that a daylight-saving change skips or repeats: the earliest instant.
  auto info = zone_of(zone_)->get_info(local);
  auto sys = info.result == date::local_info::nonexistent ? info.first.end
                                                          : date::sys_seconds(local.time_since_epoch() - info.first.offset);
  return std::chrono::duration_cast<Ms>(sys.time_since_epoch()).count();
}

Result<int64_t> TimeZone::parse_time(std::string_view text) const {
  if (text.size() == 10) return midnight_ms(text);
  return parse_time_ms(text);
}

}  // namespace mrv
