#pragma once
// Whether each meter's calibration covers now, and until when: the warning before a
// calibration expires (issue 16) that the log, /metrics, /healthz, the status page and
// `mrv-agent status` show. Pure: the config, the site records and the time are arguments.
//
// The rule is the report engine's (report/src/site_book.hpp, CalibrationHistory), read at
// one instant, so the warning and the report agree:
//   - a point's meter is its config meter_serial, changed by recorded meter exchanges;
//   - the config's calibration_valid_until (valid through that local day in [site]
//     timezone) belongs to that serial and covers until its first recorded calibration;
//   - from then its recorded calibrations decide: a passing one covers [its time,
//     valid_until); a failed one (result fail, or an error beyond the accuracy class)
//     ends all coverage at its time. A calibration of another serial covers nothing here.
// Records dated after now are not counted yet.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "mrv/core/config.hpp"
#include "mrv/core/site_record.hpp"

namespace mrv::agent {

// ok: covered beyond the warning lead time; due: it ends within [site]
// calibration_warning_days; expired: it has ended; failed: the latest recorded calibration
// failed; unknown: no date in the config and no recorded calibration (said, not warned).
enum class CalibrationState { ok, due, expired, failed, unknown };
std::string_view to_string(CalibrationState state);
inline constexpr CalibrationState kCalibrationStates[] = {CalibrationState::ok, CalibrationState::due,
                                                          CalibrationState::expired, CalibrationState::failed,
                                                          CalibrationState::unknown};
// due, expired and failed are warnings (never a failed /healthz: readings are still
// recorded, and reports correct them; docs/operations.md).
inline bool is_warning(CalibrationState s) {
  return s == CalibrationState::due || s == CalibrationState::expired || s == CalibrationState::failed;
}

// A site record and the seq of the record that holds it.
struct SiteRecordAt {
  uint64_t seq = 0;
  SiteRecord record;
};

struct PointCalibration {
  std::string point, meter_serial;  // meter_serial: the point's current meter ("" when none is named)
  CalibrationState state = CalibrationState::unknown;
  // The first instant the calibration no longer covers, UTC ms (for failed: the failed
  // calibration's time); 0 when unknown.
  int64_t valid_until_ms = 0;
  std::string last_valid_date;  // local date of the last covered instant, "2028-01-31" ("" when unknown)
  int64_t days_left = 0;        // local calendar days from today to last_valid_date (negative: ago)
  // What decides: a recorded calibration (seq > 0, its certificate and local date), or
  // the config's date (seq 0).
  uint64_t seq = 0;
  std::string certificate, calibrated_date;
};

// What the running agent computed last (CalibrationWatch), as the HTTP endpoints show it.
struct CalibrationSnapshot {
  bool known = false;        // false until the first computation
  std::string error;         // why the site records could not be read ("" when they could)
  int64_t computed_ms = 0;   // when the points were computed
  std::vector<PointCalibration> points;
};

// One entry per configured point that names a meter serial or a calibration date, in
// config order. `records`: any site records (only calibrations and meter exchanges are
// read), in any order.
std::vector<PointCalibration> calibration_status(const Config& config, std::span<const SiteRecordAt> records,
                                                 int64_t now_ms);

// One line for people and logs, e.g. "calibration of point ch1.energy_kwh (meter
// PM5560-TH-88213) expires 2028-01-31 (in 12 days)".
std::string calibration_message(const PointCalibration& calibration);

// `mrv-agent status`: "calibration 3 meter(s): 1 ok, 1 due, 1 expired", then one line per
// point due, expired or failed ("  DUE      calibration of point ..."); "" for no points.
std::string calibration_status_text(std::span<const PointCalibration> points);

// {"point", "meter_serial", "state", "valid_until_ms" (null when unknown),
// "last_valid_date", "days_left", "seq" (0: the config's date), "certificate", "message"}:
// as /status.json and `status --json` show it.
nlohmann::json calibration_json(const PointCalibration& calibration);

// The next instant after now_ms at which a state of `points` changes by time alone (ok
// becomes due, due becomes expired), or nullopt when none will.
std::optional<int64_t> next_calibration_change_ms(std::span<const PointCalibration> points, int warning_days,
                                                  int64_t now_ms);

}  // namespace mrv::agent
