#include "calibration_status.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "mrv/core/time_zone.hpp"

namespace mrv::agent {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;
constexpr int64_t kAlways = std::numeric_limits<int64_t>::min();

// Days since 1970-01-01 of a "YYYY-MM-DD" date (H. Hinnant's days_from_civil).
int64_t day_number(const std::string& date) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (std::sscanf(date.c_str(), "%d-%u-%u", &y, &m, &d) != 3) return 0;
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The first instant after the local day `date` (its next local midnight), as the report counts it.
std::optional<int64_t> end_of_local_day(const TimeZone& zone, const std::string& date) {
  auto midnight = zone.midnight_ms(date);
  if (!midnight) return std::nullopt;
  auto next = zone.midnight_ms(zone.local_date(*midnight + 36 * 3'600'000LL));
  if (!next) return std::nullopt;
  return *next;
}

struct Span {
  int64_t from_ms, to_ms;
  const SiteRecordAt* by;  // nullptr: the config's date
};

bool by_time(const SiteRecordAt* a, const SiteRecordAt* b) {
  return a->record.ts_ms != b->record.ts_ms ? a->record.ts_ms < b->record.ts_ms : a->seq < b->seq;
}

std::string days_text(int64_t days) { return std::to_string(days) + (days == 1 ? " day" : " days"); }

PointCalibration status_of(const PointConfig& point, std::span<const SiteRecordAt> records, const TimeZone& zone,
                           int64_t lead_ms, int64_t now_ms) {
  std::vector<const SiteRecordAt*> exchanges, calibrations;
  for (const SiteRecordAt& r : records) {
    if (r.record.point != point.id || r.record.ts_ms > now_ms) continue;
    if (r.record.kind == SiteRecordKind::meter_exchange) exchanges.push_back(&r);
    if (r.record.kind == SiteRecordKind::calibration) calibrations.push_back(&r);
  }
  std::sort(exchanges.begin(), exchanges.end(), by_time);
  PointCalibration out;
  out.point = point.id;
  out.meter_serial = point.meter_serial;
  for (const SiteRecordAt* e : exchanges)
    if (out.meter_serial == e->record.old_serial) out.meter_serial = e->record.new_serial;
  std::erase_if(calibrations, [&](const SiteRecordAt* c) { return c->record.meter_serial != out.meter_serial; });
  std::sort(calibrations.begin(), calibrations.end(), by_time);

  // The config's date belongs to the meter the config names.
  std::optional<int64_t> config_end;
  if (!point.calibration_valid_until.empty() && out.meter_serial == point.meter_serial)
    config_end = end_of_local_day(zone, point.calibration_valid_until);
  if (calibrations.empty() && !config_end) return out;  // unknown

  const double permissible = accuracy_percent(point.accuracy_class).value_or(100.0);
  auto failed = [&](const SiteRecord& c) { return !c.result_pass || std::abs(c.error_percent) > permissible; };
  std::vector<Span> spans;
  if (config_end)
    spans.push_back({kAlways, calibrations.empty() ? *config_end : std::min(*config_end, calibrations.front()->record.ts_ms),
                     nullptr});
  for (const SiteRecordAt* c : calibrations) {
    if (failed(c->record)) {
      for (Span& s : spans) s.to_ms = std::min(s.to_ms, c->record.ts_ms);  // a failure ends what covered it
    } else {
      spans.push_back({c->record.ts_ms, c->record.valid_until_ms, c});
    }
  }

  const SiteRecordAt* decided_by = nullptr;
  if (!calibrations.empty() && failed(calibrations.back()->record)) {
    decided_by = calibrations.back();
    out.state = CalibrationState::failed;
    out.valid_until_ms = decided_by->record.ts_ms;
  } else {
    // Covered now: until the end of the spans that follow on from now without a hole.
    bool covered = false;
    int64_t until = kAlways;
    for (bool grew = true; grew;) {
      grew = false;
      for (const Span& s : spans) {
        int64_t from = covered ? until : now_ms;
        if (s.from_ms <= from && from < s.to_ms && (!covered || s.to_ms > until)) {
          covered = grew = true;
          until = s.to_ms;
          decided_by = s.by;
        }
      }
    }
    if (!covered) {  // expired: when the last coverage ended
      for (const Span& s : spans)
        if (s.to_ms > until) until = s.to_ms, decided_by = s.by;
    }
    out.valid_until_ms = until;
    out.state = !covered ? CalibrationState::expired
                : now_ms >= until - lead_ms ? CalibrationState::due
                                            : CalibrationState::ok;
  }
  out.last_valid_date = zone.local_date(out.valid_until_ms - 1);
  out.days_left = day_number(out.last_valid_date) - day_number(zone.local_date(now_ms));
  if (decided_by) {
    out.seq = decided_by->seq;
    auto certificate = decided_by->record.details.find("certificate");
    if (certificate != decided_by->record.details.end()) out.certificate = certificate->second;
    out.calibrated_date = zone.local_date(decided_by->record.ts_ms);
  }
  return out;
}

}  // namespace

std::string_view to_string(CalibrationState state) {
  switch (state) {
    case CalibrationState::ok: return "ok";
    case CalibrationState::due: return "due";
    case CalibrationState::expired: return "expired";
    case CalibrationState::failed: return "failed";
    case CalibrationState::unknown: return "unknown";
  }
  return "unknown";
}

std::vector<PointCalibration> calibration_status(const Config& config, std::span<const SiteRecordAt> records,
                                                 int64_t now_ms) {
  TimeZone zone = TimeZone::locate(config.monitoring.time_zone).value_or(TimeZone::utc());  // checked at load
  const int64_t lead_ms = int64_t{config.calibration_warning_days} * kMsPerDay;
  std::vector<PointCalibration> out;
  for (const PointConfig& p : config.points)
    if (!p.meter_serial.empty() || !p.calibration_valid_until.empty())
      out.push_back(status_of(p, records, zone, lead_ms, now_ms));
  return out;
}

std::string calibration_message(const PointCalibration& c) {
  std::string out = "calibration of point " + c.point;
  if (!c.meter_serial.empty()) out += " (meter " + c.meter_serial + ")";
  std::string source = c.seq == 0 ? std::string("calibration_valid_until in the config")
                                  : "certificate " + c.certificate + ", record seq " + std::to_string(c.seq);
  std::string when = c.days_left == 0 ? std::string("today")
                     : c.days_left > 0 ? "in " + days_text(c.days_left)
                                       : days_text(-c.days_left) + " ago";
  switch (c.state) {
    case CalibrationState::ok: return out + " valid until " + c.last_valid_date + " (" + when + "; " + source + ")";
    case CalibrationState::due: return out + " expires " + c.last_valid_date + " (" + when + "; " + source + ")";
    case CalibrationState::expired:
      return out + " expired: valid until " + c.last_valid_date + " (" + when + "; " + source +
             "); reports correct its readings by the maximum permissible error until a calibration is recorded";
    case CalibrationState::failed:
      return out + " failed on " + c.calibrated_date + " (" + source +
             "); reports correct its readings by the error found until a passing calibration is recorded";
    case CalibrationState::unknown:
      return out + " is unknown: no calibration_valid_until in the config and no calibration recorded";
  }
  return out;
}

std::string calibration_status_text(std::span<const PointCalibration> points) {
  if (points.empty()) return "";
  std::string out = "calibration " + std::to_string(points.size()) + " meter(s):";
  bool first = true;
  for (CalibrationState state : kCalibrationStates) {
    auto n = std::count_if(points.begin(), points.end(), [&](const PointCalibration& p) { return p.state == state; });
    if (n == 0) continue;
    out += (first ? " " : ", ") + std::to_string(n) + " " + std::string(to_string(state));
    first = false;
  }
  out += "\n";
  for (const PointCalibration& p : points) {
    if (!is_warning(p.state)) continue;
    std::string state(to_string(p.state));
    std::transform(state.begin(), state.end(), state.begin(),
                   [](char c) { return static_cast<char>(std::toupper(static_cast<unsigned char>(c))); });
    state.resize(9, ' ');
    out += "  " + state + calibration_message(p) + "\n";
  }
  return out;
}

nlohmann::json calibration_json(const PointCalibration& c) {
  bool known = c.state != CalibrationState::unknown;
  return {{"point", c.point},
          {"meter_serial", c.meter_serial},
          {"state", std::string(to_string(c.state))},
          {"valid_until_ms", known ? nlohmann::json(c.valid_until_ms) : nlohmann::json(nullptr)},
          {"last_valid_date", c.last_valid_date},
          {"days_left", known ? nlohmann::json(c.days_left) : nlohmann::json(nullptr)},
          {"seq", c.seq},
          {"certificate", c.certificate},
          {"message", calibration_message(c)}};
}

std::optional<int64_t> next_calibration_change_ms(std::span<const PointCalibration> points, int warning_days,
                                                  int64_t now_ms) {
  std::optional<int64_t> next;
  auto consider = [&](int64_t t) {
    if (t > now_ms && (!next || t < *next)) next = t;
  };
  for (const PointCalibration& p : points) {
    if (p.state == CalibrationState::ok) consider(p.valid_until_ms - int64_t{warning_days} * kMsPerDay);
    if (p.state == CalibrationState::ok || p.state == CalibrationState::due) consider(p.valid_until_ms);
  }
  return next;
}

}  // namespace mrv::agent
