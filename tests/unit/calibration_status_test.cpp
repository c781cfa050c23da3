// The warning before a calibration expires (issue 16): each state from the config's date
// and the recorded calibrations, by the report engine's rule, in the site's time zone.
#include <catch2/catch.hpp>

#include "calibration_status.hpp"
#include "mrv/core/time_text.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {

constexpr int64_t kDay = 86'400'000;

int64_t at(const char* rfc3339) {
  auto ms = parse_time_ms(rfc3339);
  REQUIRE(ms);
  return *ms;
}

// Ulaanbaatar is UTC+8 all year: 2027-01-31 is valid until 2027-01-31T16:00:00Z.
Config site(const std::string& points, int warning_days = 30) {
  std::string text = "[site]\nid = \"s\"\ntimezone = \"Asia/Ulaanbaatar\"\ncalibration_warning_days = " +
                     std::to_string(warning_days) +
                     "\n[journal]\npath = \"j.db\"\n[signing]\nkey_file = \"k.key\"\n" + points;
  auto c = parse_config(text, "/cfg/site.toml");
  if (!c) FAIL(c.error().front().to_string());
  return *c;
}

const std::string kMeter = R"([[points]]
id = "ch1.energy_kwh"
unit = "kWh"
kind = "cumulative"
meter_serial = "PM5560-TH-88213"
accuracy_class = "0.5S"
calibration_valid_until = 2027-01-31
)";

std::string entry_id(uint64_t n) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%032llx", static_cast<unsigned long long>(n));
  return buf;
}

// A site record as the journal gives it back: made and read by the same code.
SiteRecordAt stored(uint64_t seq, SiteRecord s) {
  s.id = entry_id(seq);
  s.entered_by = "Bat-Erdene";
  s.login = "bat";
  auto reading = site_record_reading(s);
  if (!reading) FAIL(reading.error().to_string());
  auto parsed = parse_site_record(*reading);
  REQUIRE(parsed);
  return {seq, *parsed};
}

SiteRecordAt calibration(uint64_t seq, const std::string& serial, int64_t ts_ms, int64_t valid_until_ms, bool pass,
                         const std::string& error_percent = "0.2", const std::string& point = "ch1.energy_kwh") {
  SiteRecord s;
  s.kind = SiteRecordKind::calibration;
  s.point = point;
  s.ts_ms = ts_ms;
  s.value = error_percent;
  s.unit = "%";
  s.details = {{"certificate", "CAL-" + std::to_string(seq)}, {"certificate_sha256", std::string(64, 'a')},
               {"laboratory", "MASM"}, {"meter_serial", serial}, {"result", pass ? "pass" : "fail"},
               {"valid_until", format_utc_ms(valid_until_ms)}};
  return stored(seq, s);
}

SiteRecordAt exchange(uint64_t seq, const std::string& from, const std::string& to, int64_t ts_ms) {
  SiteRecord s;
  s.kind = SiteRecordKind::meter_exchange;
  s.point = "ch1.energy_kwh";
  s.ts_ms = ts_ms;
  s.unit = "kWh";
  s.details = {{"old_serial", from}, {"new_serial", to}, {"old_final", "1200.5"}, {"new_initial", "0"}};
  return stored(seq, s);
}

PointCalibration only(const Config& c, const std::vector<SiteRecordAt>& records, int64_t now_ms) {
  auto all = calibration_status(c, records, now_ms);
  REQUIRE(all.size() == 1);
  return all[0];
}

}  // namespace

TEST_CASE("calibration: the config's date is valid through that local day, due within the lead time, then expired",
          "[calibration]") {
  const Config c = site(kMeter);
  const int64_t end = at("2027-01-31T16:00:00Z");  // 2027-02-01 00:00 in Ulaanbaatar

  auto ok = only(c, {}, end - 30 * kDay - 1);
  CHECK(ok.state == CalibrationState::ok);
  CHECK(ok.meter_serial == "PM5560-TH-88213");
  CHECK(ok.valid_until_ms == end);
  CHECK(ok.last_valid_date == "2027-01-31");
  CHECK(ok.days_left == 30);  // 2027-01-01T15:59:59.999Z is 2027-01-01 23:59 local
  CHECK(ok.seq == 0);
  CHECK(ok.certificate.empty());

  auto due = only(c, {}, end - 30 * kDay);
  CHECK(due.state == CalibrationState::due);
  auto twelve = only(c, {}, at("2027-01-19T02:00:00Z"));  // 10:00 local on the 19th
  CHECK(twelve.state == CalibrationState::due);
  CHECK(twelve.days_left == 12);
  CHECK(calibration_message(twelve) ==
        "calibration of point ch1.energy_kwh (meter PM5560-TH-88213) expires 2027-01-31 (in 12 days; "
        "calibration_valid_until in the config)");
  auto last_moment = only(c, {}, end - 1);
  CHECK(last_moment.state == CalibrationState::due);
  CHECK(last_moment.days_left == 0);
  CHECK(calibration_message(last_moment).find("expires 2027-01-31 (today;") != std::string::npos);

  auto expired = only(c, {}, end);
  CHECK(expired.state == CalibrationState::expired);
  CHECK(expired.valid_until_ms == end);
  CHECK(expired.days_left == -1);
  CHECK(calibration_message(expired) ==
        "calibration of point ch1.energy_kwh (meter PM5560-TH-88213) expired: valid until 2027-01-31 (1 day ago; "
        "calibration_valid_until in the config); reports correct its readings by the maximum permissible error "
        "until a calibration is recorded");
}

TEST_CASE("calibration: the lead time is [site] calibration_warning_days, and 0 warns only once it has ended",
          "[calibration]") {
  const int64_t end = at("2027-01-31T16:00:00Z");
  CHECK(only(site(kMeter, 7), {}, end - 8 * kDay).state == CalibrationState::ok);
  CHECK(only(site(kMeter, 7), {}, end - 7 * kDay).state == CalibrationState::due);
  CHECK(only(site(kMeter, 0), {}, end - 1).state == CalibrationState::ok);
  CHECK(only(site(kMeter, 0), {}, end).state == CalibrationState::expired);
}

TEST_CASE("calibration: a meter with no date and no record is unknown, a point with neither meter nor date is left out",
          "[calibration]") {
  const Config c = site(R"([[points]]
id = "m1.energy_kwh"
unit = "kWh"
meter_serial = "EM-1"
[[points]]
id = "outdoor.temp_c"
unit = "degC"
)");
  auto all = calibration_status(c, {}, at("2027-01-01T00:00:00Z"));
  REQUIRE(all.size() == 1);
  CHECK(all[0].point == "m1.energy_kwh");
  CHECK(all[0].state == CalibrationState::unknown);
  CHECK(all[0].valid_until_ms == 0);
  CHECK(all[0].last_valid_date.empty());
  CHECK_FALSE(is_warning(all[0].state));
  CHECK(calibration_message(all[0]) ==
        "calibration of point m1.energy_kwh (meter EM-1) is unknown: no calibration_valid_until in the config and no "
        "calibration recorded");
}

TEST_CASE("calibration: a recorded calibration supersedes the config date, later or earlier", "[calibration]") {
  const Config c = site(kMeter);
  const int64_t now = at("2027-03-01T00:00:00Z");  // the config's date has expired
  REQUIRE(only(c, {}, now).state == CalibrationState::expired);

  auto renewed = only(c, {calibration(41, "PM5560-TH-88213", at("2027-02-10T03:00:00Z"), at("2029-02-10T16:00:00Z"), true)},
                      now);
  CHECK(renewed.state == CalibrationState::ok);
  CHECK(renewed.valid_until_ms == at("2029-02-10T16:00:00Z"));
  CHECK(renewed.last_valid_date == "2029-02-10");
  CHECK(renewed.seq == 41);
  CHECK(renewed.certificate == "CAL-41");
  CHECK(renewed.calibrated_date == "2027-02-10");

  // A calibration recorded before the config's date ends decides from its time on, even
  // when it covers less.
  const int64_t early = at("2026-12-01T00:00:00Z");
  auto shorter = only(c, {calibration(7, "PM5560-TH-88213", at("2026-11-20T00:00:00Z"), at("2026-12-20T00:00:00Z"), true)},
                      early);
  CHECK(shorter.state == CalibrationState::due);
  CHECK(shorter.valid_until_ms == at("2026-12-20T00:00:00Z"));
  CHECK(calibration_message(shorter) ==
        "calibration of point ch1.energy_kwh (meter PM5560-TH-88213) expires 2026-12-20 (in 19 days; certificate "
        "CAL-7, record seq 7)");
  // Two passing calibrations that follow on from each other cover as one.
  auto chained = only(c,
                      {calibration(7, "PM5560-TH-88213", at("2026-11-20T00:00:00Z"), at("2026-12-20T00:00:00Z"), true),
                       calibration(9, "PM5560-TH-88213", at("2026-11-25T00:00:00Z"), at("2027-12-15T00:00:00Z"), true)},
                      early);
  CHECK(chained.state == CalibrationState::ok);
  CHECK(chained.valid_until_ms == at("2027-12-15T00:00:00Z"));
  CHECK(chained.seq == 9);
}

TEST_CASE("calibration: a failed calibration expires it at its time, until a passing one is recorded", "[calibration]") {
  const Config c = site(kMeter);
  const int64_t pass_ts = at("2026-06-01T00:00:00Z"), fail_ts = at("2026-11-03T02:00:00Z");
  std::vector<SiteRecordAt> records{calibration(5, "PM5560-TH-88213", pass_ts, at("2028-06-01T00:00:00Z"), true),
                                    calibration(12, "PM5560-TH-88213", fail_ts, at("2027-11-03T00:00:00Z"), false, "1.8")};
  auto failed = only(c, records, at("2026-12-01T00:00:00Z"));
  CHECK(failed.state == CalibrationState::failed);
  CHECK(failed.valid_until_ms == fail_ts);
  CHECK(failed.seq == 12);
  CHECK(failed.calibrated_date == "2026-11-03");
  CHECK(is_warning(failed.state));
  CHECK(calibration_message(failed) ==
        "calibration of point ch1.energy_kwh (meter PM5560-TH-88213) failed on 2026-11-03 (certificate CAL-12, record "
        "seq 12); reports correct its readings by the error found until a passing calibration is recorded");

  // "pass" with an error beyond the accuracy class (0.5S) fails, as the report counts it.
  auto beyond = only(c, {calibration(5, "PM5560-TH-88213", pass_ts, at("2028-06-01T00:00:00Z"), true, "-0.7")},
                     at("2026-12-01T00:00:00Z"));
  CHECK(beyond.state == CalibrationState::failed);

  records.push_back(calibration(20, "PM5560-TH-88213", at("2026-11-20T00:00:00Z"), at("2028-11-20T00:00:00Z"), true));
  auto again = only(c, records, at("2026-12-01T00:00:00Z"));
  CHECK(again.state == CalibrationState::ok);
  CHECK(again.valid_until_ms == at("2028-11-20T00:00:00Z"));
  CHECK(again.seq == 20);
}

TEST_CASE("calibration: a calibration of the old meter does not cover the new serial", "[calibration]") {
  const int64_t now = at("2026-12-01T00:00:00Z");
  const auto old_calibration = calibration(3, "PM5560-OLD", at("2026-10-01T00:00:00Z"), at("2028-10-01T00:00:00Z"), true);

  // The config names the new meter: the old meter's record is not its calibration.
  std::string replaced = kMeter;
  replaced.replace(replaced.find("PM5560-TH-88213"), 15, "PM5560-NEW");
  auto by_config = only(site(replaced), {old_calibration}, now);
  CHECK(by_config.meter_serial == "PM5560-NEW");
  CHECK(by_config.state == CalibrationState::ok);
  CHECK(by_config.valid_until_ms == at("2027-01-31T16:00:00Z"));  // from the config
  CHECK(by_config.seq == 0);

  // The config still names the old meter, but an exchange was recorded: the new meter has
  // neither the config's date (the old meter's) nor a calibration of its own.
  std::string old_in_config = kMeter;
  old_in_config.replace(old_in_config.find("PM5560-TH-88213"), 15, "PM5560-OLD");
  const Config c = site(old_in_config);
  auto exchanged = only(c, {old_calibration, exchange(4, "PM5560-OLD", "PM5560-NEW", at("2026-11-01T00:00:00Z"))}, now);
  CHECK(exchanged.meter_serial == "PM5560-NEW");
  CHECK(exchanged.state == CalibrationState::unknown);
  // Once the new meter's own calibration is recorded, it decides.
  auto own = only(c,
                  {old_calibration, exchange(4, "PM5560-OLD", "PM5560-NEW", at("2026-11-01T00:00:00Z")),
                   calibration(6, "PM5560-NEW", at("2026-10-15T00:00:00Z"), at("2026-12-10T00:00:00Z"), true)},
                  now);
  CHECK(own.state == CalibrationState::due);
  CHECK(own.seq == 6);
  // Before the exchange, the old meter was covered by its own calibration.
  auto before = only(c, {old_calibration, exchange(4, "PM5560-OLD", "PM5560-NEW", at("2026-11-01T00:00:00Z"))},
                     at("2026-10-20T00:00:00Z"));
  CHECK(before.meter_serial == "PM5560-OLD");
  CHECK(before.state == CalibrationState::ok);
  CHECK(before.seq == 3);
}

TEST_CASE("calibration: records of other points and records dated after now do not count", "[calibration]") {
  const Config c = site(kMeter);
  const int64_t now = at("2027-03-01T00:00:00Z");
  auto other = only(c, {calibration(2, "PM5560-TH-88213", at("2027-02-10T00:00:00Z"), at("2029-02-10T00:00:00Z"), true,
                                    "0.1", "ch2.energy_kwh")},
                    now);
  CHECK(other.state == CalibrationState::expired);
  auto later = only(c, {calibration(2, "PM5560-TH-88213", at("2027-03-02T00:00:00Z"), at("2029-03-02T00:00:00Z"), true)},
                    now);
  CHECK(later.state == CalibrationState::expired);
  CHECK(later.seq == 0);
}

TEST_CASE("calibration: the next change by time is the due instant of an ok point, the end of a due one",
          "[calibration]") {
  const Config c = site(kMeter + R"([[points]]
id = "ch2.energy_kwh"
unit = "kWh"
meter_serial = "EM-2"
calibration_valid_until = 2027-01-10
)");
  const int64_t end1 = at("2027-01-31T16:00:00Z"), end2 = at("2027-01-10T16:00:00Z");
  auto points = calibration_status(c, {}, end2 - 40 * kDay);
  REQUIRE(points.size() == 2);
  CHECK(next_calibration_change_ms(points, 30, end2 - 40 * kDay) == end2 - 30 * kDay);
  points = calibration_status(c, {}, end2 - 1);  // ch2 due, ch1 due since end1 - 30 d
  CHECK(next_calibration_change_ms(points, 30, end2 - 1) == end2);
  points = calibration_status(c, {}, end1);
  CHECK_FALSE(next_calibration_change_ms(points, 30, end1));
}

TEST_CASE("calibration: status lists the count per state and a line per point due, expired or failed",
          "[calibration]") {
  const Config c = site(kMeter + R"([[points]]
id = "ch2.energy_kwh"
unit = "kWh"
meter_serial = "EM-2"
calibration_valid_until = 2026-10-10
[[points]]
id = "ch3.energy_kwh"
unit = "kWh"
meter_serial = "EM-3"
calibration_valid_until = 2030-10-10
[[points]]
id = "ch4.energy_kwh"
unit = "kWh"
meter_serial = "EM-4"
)");
  auto points = calibration_status(c, {}, at("2027-01-19T02:00:00Z"));
  CHECK(calibration_status_text(points) ==
        "calibration 4 meter(s): 1 ok, 1 due, 1 expired, 1 unknown\n"
        "  DUE      calibration of point ch1.energy_kwh (meter PM5560-TH-88213) expires 2027-01-31 (in 12 days; "
        "calibration_valid_until in the config)\n"
        "  EXPIRED  calibration of point ch2.energy_kwh (meter EM-2) expired: valid until 2026-10-10 (101 days ago; "
        "calibration_valid_until in the config); reports correct its readings by the maximum permissible error until "
        "a calibration is recorded\n");
  CHECK(calibration_status_text({}).empty());
}
