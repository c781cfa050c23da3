// The running agent's calibration watch on a real journal: computed at the first tick,
// logged once per change, recomputed when a site record is committed, when a state
// changes by time and after a reload.
#include <sys/syslog.h>

#include <catch2/catch.hpp>

#include "calibration_watch.hpp"
#include "mrv/core/journal_writer.hpp"
#include "mrv/core/time_text.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::agent;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kDay = 86'400'000;

int64_t at(const char* rfc3339) {
  auto ms = parse_time_ms(rfc3339);
  REQUIRE(ms);
  return *ms;
}

struct FixedClock : Clock {
  ClockSample now() override { return {at("2027-01-01T00:00:00Z"), 42, ClockSync::synchronised}; }
};

Config site_config(const test::TempDir& dir, const std::string& valid_until, const std::string& more_points = "") {
  std::string text = "[site]\nid = \"test-site\"\ntimezone = \"Asia/Ulaanbaatar\"\n[journal]\npath = \"" +
                     (dir / "journal.db").string() + "\"\n[signing]\nkey_file = \"k.key\"\n[[points]]\n" +
                     "id = \"m1.energy_kwh\"\nunit = \"kWh\"\nmeter_serial = \"EM-1\"\n" +
                     "calibration_valid_until = " + valid_until + "\n" + more_points;
  auto c = parse_config(text, dir / "agent.toml");
  if (!c) FAIL(c.error().front().to_string());
  return *c;
}

Reading calibration_entry(int id, int64_t ts_ms, int64_t valid_until_ms, bool pass) {
  SiteRecord s;
  s.kind = SiteRecordKind::calibration;
  char entry[33];
  std::snprintf(entry, sizeof entry, "%032x", id);
  s.id = entry;
  s.entered_by = "Bat-Erdene";
  s.login = "bat";
  s.point = "m1.energy_kwh";
  s.ts_ms = ts_ms;
  s.value = "0.1";
  s.unit = "%";
  s.details = {{"certificate", "CAL-" + std::to_string(id)}, {"certificate_sha256", std::string(64, 'b')},
               {"laboratory", "MASM"}, {"meter_serial", "EM-1"}, {"result", pass ? "pass" : "fail"},
               {"valid_until", format_utc_ms(valid_until_ms)}};
  auto r = site_record_reading(s);
  if (!r) FAIL(r.error().to_string());
  return *r;
}

struct Setup {
  test::TempDir dir;
  FixedClock clock;
  std::optional<JournalWriter> writer;
  std::vector<std::pair<int, std::string>> logged;
  int64_t now = at("2027-01-19T02:00:00Z");

  Setup() {
    auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
    REQUIRE(j);
    writer.emplace(std::move(*j), WriterOptions{10ms, 100, 1000}, clock, [](int, const std::string&) {});
  }
  CalibrationWatch::Options options() {
    CalibrationWatch::Options o;
    o.own_thread = false;
    o.now = [this] { return now; };
    o.log = [this](int priority, const std::string& m) { logged.emplace_back(priority, m); };
    return o;
  }
  uint64_t commit(const Reading& entry) {
    auto ticket = writer->submit_site_record(entry);
    REQUIRE(ticket);
    auto where = writer->wait_site_record(*ticket, 5s);
    REQUIRE(where);
    return where->seq;
  }
};

}  // namespace

TEST_CASE("calibration watch: computed at the first tick, a due calibration logged once as a warning",
          "[calibration]") {
  Setup s;
  CalibrationWatch watch(site_config(s.dir, "2027-01-31"), s.options());
  CHECK_FALSE(watch.snapshot().known);
  watch.tick();
  auto snap = watch.snapshot();
  REQUIRE(snap.known);
  CHECK(snap.error.empty());
  CHECK(snap.computed_ms == s.now);
  REQUIRE(snap.points.size() == 1);
  CHECK(snap.points[0].state == CalibrationState::due);
  REQUIRE(s.logged.size() == 1);
  CHECK(s.logged[0].first == LOG_WARNING);
  CHECK(s.logged[0].second ==
        "calibration of point m1.energy_kwh (meter EM-1) expires 2027-01-31 (in 12 days; calibration_valid_until in "
        "the config)");
  s.now += 3'600'000;
  watch.tick();
  watch.tick();
  CHECK(s.logged.size() == 1);  // still due: not said again
}

TEST_CASE("calibration watch: a committed calibration is found at the next tick and supersedes the config date",
          "[calibration]") {
  Setup s;
  CalibrationWatch watch(site_config(s.dir, "2027-01-31"), s.options());
  watch.tick();
  REQUIRE(s.logged.size() == 1);
  const int64_t valid_until = at("2027-03-01T16:00:00Z");
  uint64_t seq = s.commit(calibration_entry(1, at("2027-01-18T03:00:00Z"), valid_until, true));
  watch.tick();
  auto snap = watch.snapshot();
  REQUIRE(snap.points.size() == 1);
  CHECK(snap.points[0].state == CalibrationState::ok);
  CHECK(snap.points[0].seq == seq);
  CHECK(snap.points[0].certificate == "CAL-1");
  REQUIRE(s.logged.size() == 2);
  CHECK(s.logged[1].first == LOG_NOTICE);
  CHECK(s.logged[1].second ==
        "calibration of point m1.energy_kwh (meter EM-1) valid until 2027-03-01 (in 41 days; certificate CAL-1, record "
        "seq " + std::to_string(seq) + ")");

  // Time alone makes it due, then expired: each said once.
  s.now = valid_until - 30 * kDay;
  watch.tick();
  s.now = valid_until - 1;
  watch.tick();
  s.now = valid_until;
  watch.tick();
  REQUIRE(s.logged.size() == 4);
  CHECK(s.logged[2].second.find("expires 2027-03-01 (in 29 days; certificate CAL-1") != std::string::npos);
  CHECK(s.logged[3].first == LOG_WARNING);
  CHECK(s.logged[3].second.find("expired: valid until 2027-03-01 (1 day ago; certificate CAL-1") != std::string::npos);

  // A failed calibration: failed, said once.
  s.now = at("2027-03-05T00:00:00Z");
  s.commit(calibration_entry(2, at("2027-03-04T00:00:00Z"), at("2028-03-04T00:00:00Z"), false));
  watch.tick();
  watch.tick();
  REQUIRE(s.logged.size() == 5);
  CHECK(watch.snapshot().points[0].state == CalibrationState::failed);
  CHECK(s.logged[4].second.find("failed on 2027-03-04") != std::string::npos);
}

TEST_CASE("calibration watch: a reload recomputes: a far date is ok again, a new point is said when not ok",
          "[calibration]") {
  Setup s;
  CalibrationWatch watch(site_config(s.dir, "2026-12-31"), s.options());
  watch.tick();
  REQUIRE(s.logged.size() == 1);
  CHECK(s.logged[0].second.find("expired: valid until 2026-12-31 (19 days ago;") != std::string::npos);
  watch.set_config(site_config(s.dir, "2029-12-31", "[[points]]\nid = \"m2.energy_kwh\"\nunit = \"kWh\"\n"
                                                    "meter_serial = \"EM-2\"\n"));
  watch.tick();
  auto snap = watch.snapshot();
  REQUIRE(snap.points.size() == 2);
  CHECK(snap.points[0].state == CalibrationState::ok);
  CHECK(snap.points[1].state == CalibrationState::unknown);
  REQUIRE(s.logged.size() == 3);
  CHECK(s.logged[1].first == LOG_NOTICE);
  CHECK(s.logged[1].second.find("m1.energy_kwh (meter EM-1) valid until 2029-12-31") != std::string::npos);
  CHECK(s.logged[2].first == LOG_INFO);
  CHECK(s.logged[2].second.find("m2.energy_kwh (meter EM-2) is unknown") != std::string::npos);
}

TEST_CASE("calibration watch: without a readable journal it still computes from the config and says why",
          "[calibration]") {
  test::TempDir dir;
  Config c = site_config(dir, "2027-01-31");
  CalibrationWatch::Options o;
  o.own_thread = false;
  o.now = [] { return at("2027-01-19T02:00:00Z"); };
  o.log = [](int, const std::string&) {};
  CalibrationWatch watch(c, o);
  watch.tick();
  auto snap = watch.snapshot();
  REQUIRE(snap.known);
  CHECK_FALSE(snap.error.empty());
  REQUIRE(snap.points.size() == 1);
  CHECK(snap.points[0].state == CalibrationState::due);
}

TEST_CASE("calibration watch: its own thread computes at start and stops promptly", "[calibration]") {
  Setup s;
  CalibrationWatch::Options o = s.options();
  o.own_thread = true;
  o.log = [](int, const std::string&) {};
  auto started = std::chrono::steady_clock::now();
  {
    CalibrationWatch watch(site_config(s.dir, "2027-01-31"), o);
    for (int i = 0; i < 500 && !watch.snapshot().known; ++i) std::this_thread::sleep_for(10ms);
    CHECK(watch.snapshot().known);
  }
  CHECK(std::chrono::steady_clock::now() - started < 5s);  // not a 10 s poll
}

TEST_CASE("calibration watch: read_calibration_records returns calibrations after a seq and the highest seq",
          "[calibration]") {
  Setup s;
  uint64_t first = s.commit(calibration_entry(1, at("2026-12-01T00:00:00Z"), at("2027-12-01T00:00:00Z"), true));
  uint64_t second = s.commit(calibration_entry(2, at("2026-12-02T00:00:00Z"), at("2027-12-02T00:00:00Z"), true));
  auto j = Journal::open_read_only(s.dir / "journal.db");
  REQUIRE(j);
  auto all = read_calibration_records(*j);
  REQUIRE(all);
  CHECK(all->records.size() == 2);
  CHECK(all->through_seq == second);
  CHECK(all->problem.empty());
  auto newer = read_calibration_records(*j, first);
  REQUIRE(newer);
  REQUIRE(newer->records.size() == 1);
  CHECK(newer->records[0].seq == second);
  CHECK(newer->records[0].record.details.at("certificate") == "CAL-2");
  auto none = read_calibration_records(*j, second);
  REQUIRE(none);
  CHECK(none->records.empty());
  CHECK(none->through_seq == second);
}
