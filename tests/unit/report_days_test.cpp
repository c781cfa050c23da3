// A point's local days (report.hpp, DayValue): what the monitoring workbook's daily and
// monthly sheets show, so their sums must be the period's numbers.
#include <catch2/catch.hpp>

#include <cmath>

#include "mrv/core/time_text.hpp"
#include "mrv/core/time_zone.hpp"
#include "mrv/report/engine.hpp"
#include "mrv/report/format.hpp"

using namespace mrv;
using mrv::report::DayValue;
using mrv::report::PointReport;

namespace {

constexpr int64_t kMin = 60'000, kHour = 60 * kMin;
const std::string kMeter = "m.export_kwh", kPower = "m.power_kw";

struct SiteOptions {
  std::string time_zone = "Asia/Ulaanbaatar";
  std::string periods;             // [[monitoring.periods]] tables
  std::string rollover;            // rollover_at of the export register
  std::string gap_rule = "zero";   // of the integrated power
};

// An export register (kWh, counted into EG_p in MWh) and a power gauge (kW: integrated
// into E_int in kWh, and its mean), both read hourly (gap limit 2.5 h).
std::string site_config(const SiteOptions& o) {
  return R"x(
[site]
id = "days-site"
timezone = ")x" + o.time_zone + R"x("
[journal]
path = "journal.db"
[signing]
key_file = "ed25519-test.key"
[[points]]
id = "m.export_kwh"
unit = "kWh"
kind = "cumulative"
interval_ms = 3600000
meter_serial = "EXP-1"
)x" + (o.rollover.empty() ? "" : "rollover_at = " + o.rollover + "\n") + R"x(
[[points]]
id = "m.power_kw"
unit = "kW"
kind = "gauge"
interval_ms = 3600000
[monitoring]
methodology = "MN_AM003"
version = "1.0"
[[monitoring.parameters]]
id = "EG_p"
unit = "MWh"
aggregation = "counter"
point = "m.export_kwh"
[[monitoring.parameters]]
id = "E_int"
unit = "kWh"
aggregation = "integral"
point = "m.power_kw"
gap_rule = ")x" + o.gap_rule + "\"\n" + (o.gap_rule == "substitute" ? "substitute = 3\n" : "") + R"x(
[[monitoring.parameters]]
id = "P_mean"
unit = "kW"
aggregation = "mean"
point = "m.power_kw"
[[monitoring.parameters]]
id = "EF_grid"
unit = "tCO2/MWh"
aggregation = "fixed"
value = 0.797
source = "test"
monitoring_option = "A"
[[monitoring.formulas]]
id = "ER_p"
expression = "EG_p * EF_grid"
unit = "tCO2"
)x" + o.periods;
}

SiteOptions options(const std::string& time_zone, const std::string& periods) {
  SiteOptions o;
  o.time_zone = time_zone;
  o.periods = periods;
  return o;
}

std::string period(const std::string& name, const std::string& start, const std::string& end) {
  return "[[monitoring.periods]]\nname = \"" + name + "\"\nstart = " + start + "\nend = " + end + "\n";
}

struct Sample {
  std::string point;
  int64_t ts_ms;
  double value;
};

class Site {
 public:
  explicit Site(SiteOptions o) : zone_(*TimeZone::locate(o.time_zone)) {
    auto c = parse_config(site_config(o), "site.toml", false);
    if (!c) FAIL(c.error().front().to_string());
    config_ = std::move(*c);
  }
  // A local time ("2027-01-01T23:59") as UTC ms.
  int64_t local(const std::string& date, int64_t minutes = 0) const {
    return *zone_.midnight_ms(date) + minutes * kMin;
  }
  void add(const std::string& point, int64_t ts_ms, double value) { samples_.push_back({point, ts_ms, value}); }

  report::Report report(const std::string& name) {
    const MonitoringPeriod* p = nullptr;
    for (const MonitoringPeriod& q : config_.monitoring.periods)
      if (q.name == name) p = &q;
    REQUIRE(p);
    report::ReportEngine engine(config_, *p, [](const std::string&) -> const Config* { return nullptr; });
    uint64_t seq = 0;
    for (const Sample& s : samples_) {
      RecordFields f;
      f.seq = ++seq;
      f.site_id = "days-site";
      f.config_hash_hex = config_.hash_hex;
      f.reading.point_id = s.point;
      f.reading.value = report::format_decimal(s.value, 6);
      f.reading.unit = s.point == kMeter ? "kWh" : "kW";
      f.reading.ts_ms = s.ts_ms;
      f.received = ClockSample{s.ts_ms + 5, 1000, ClockSync::synchronised};
      engine.push(f);
    }
    auto r = engine.finish();
    if (!r) FAIL(r.error().to_string());
    return std::move(*r);
  }

 private:
  TimeZone zone_;
  Config config_;
  std::vector<Sample> samples_;
};

const PointReport& point(const report::Report& r, const std::string& parameter) {
  for (const auto& p : r.parameters)
    if (p.config->id == parameter) return p.points.at(0);
  throw std::runtime_error("no parameter " + parameter);
}

// Σ days.value is the point's value, up to rounding.
void check_sum(const PointReport& p) {
  double sum = 0;
  for (const DayValue& d : p.days) sum += d.value;
  INFO(p.point_id << ": Σ days " << sum << ", value " << p.value);
  CHECK(std::abs(sum - p.value) <= 1e-9 * std::max(1.0, std::abs(p.value)));
}

// The days tile the period, each from a local midnight (but a partial first day).
void check_tiling(const PointReport& p, const MonitoringPeriod& period) {
  REQUIRE_FALSE(p.days.empty());
  CHECK(p.days.front().from_ms == period.start_ms);
  CHECK(p.days.back().to_ms == period.end_ms);
  for (size_t i = 1; i < p.days.size(); ++i) CHECK(p.days[i].from_ms == p.days[i - 1].to_ms);
}

uint64_t readings_of(const PointReport& p) {
  uint64_t n = 0;
  for (const DayValue& d : p.days) n += d.readings;
  return n;
}

}  // namespace

TEST_CASE("days: a counter over three local days in Ulaanbaatar, readings on the local day of their time",
          "[report][days]") {
  Site site(options("Asia/Ulaanbaatar", period("p", "2027-01-01", "2027-01-04")));
  // 10 kWh an hour; then 23:59 on the 1st (300) and 00:01 on the 2nd (1000) instead of midnight.
  double v = 0;
  for (int h = 0; h < 24; ++h, v += 10) site.add(kMeter, site.local("2027-01-01", h * 60), v);
  site.add(kMeter, site.local("2027-01-01", 23 * 60 + 59), 300);
  site.add(kMeter, site.local("2027-01-02", 1), 1000);
  v = 1010;  // 01:00 on the 2nd, then 10 an hour through the period's end (1,480)
  for (int64_t t = site.local("2027-01-02", 60); t <= site.local("2027-01-04"); t += kHour, v += 10)
    site.add(kMeter, t, v);
  auto r = site.report("p");
  const PointReport& p = point(r, "EG_p");
  REQUIRE(p.days.size() == 3);
  check_tiling(p, r.period);
  CHECK(p.days[0].date == "2027-01-01");
  CHECK(p.days[1].date == "2027-01-02");
  CHECK(p.days[2].date == "2027-01-03");
  CHECK(p.days[0].from_ms == *parse_time_ms("2026-12-31T16:00:00Z"));  // +08:00
  CHECK(p.days[1].from_ms == *parse_time_ms("2027-01-01T16:00:00Z"));
  for (const DayValue& d : p.days) CHECK(d.to_ms - d.from_ms == 24 * kHour);
  // Day 1: 0 .. 300 (23:59 local); day 2: 300 .. 1,230 (00:01 is the 2nd's); day 3: .. 1,480 at the end.
  CHECK(p.days[0].value == Approx(0.300));
  CHECK(p.days[0].last->ts_ms == site.local("2027-01-01", 23 * 60 + 59));
  CHECK(p.days[1].first->ts_ms == site.local("2027-01-02", 1));
  CHECK(p.days[1].first->value == 1000);
  CHECK(p.days[1].value == Approx(1.230 - 0.300));
  CHECK(p.days[2].value == Approx(1.480 - 1.230));
  CHECK(p.days[2].last->ts_ms == r.period.end_ms);  // the end register, just outside: the last day's
  CHECK(p.value == Approx(1.480));
  check_sum(p);
  CHECK(p.days[0].readings == 25);
  CHECK(p.days[1].readings == 24);
  CHECK(p.days[2].readings == 24);
  CHECK(readings_of(p) == p.readings);
  for (const DayValue& d : p.days) CHECK(d.gap_hours == 0);
}

TEST_CASE("days: a period starting at 06:00 local has a partial first day", "[report][days]") {
  Site site(options("Asia/Ulaanbaatar", period("p", "2027-01-01T06:00:00+08:00", "2027-01-03")));
  double v = 500;
  for (int64_t t = site.local("2027-01-01", 6 * 60); t <= site.local("2027-01-03"); t += kHour, v += 4)
    site.add(kMeter, t, v);
  auto r = site.report("p");
  const PointReport& p = point(r, "EG_p");
  REQUIRE(p.days.size() == 2);
  check_tiling(p, r.period);
  CHECK(p.days[0].date == "2027-01-01");
  CHECK(p.days[0].to_ms - p.days[0].from_ms == 18 * kHour);
  CHECK(p.days[1].to_ms - p.days[1].from_ms == 24 * kHour);
  // 06:00 .. 23:00: 17 steps of 4 kWh; then 24 more through the reading at the period's end.
  CHECK(p.days[0].value == Approx(17 * 4 / 1000.0));
  CHECK(p.days[1].value == Approx(25 * 4 / 1000.0));
  CHECK(p.days[0].readings == 18);
  check_sum(p);
}

TEST_CASE("days: a rollover and a reset inside a day count on their day as the period does", "[report][days]") {
  SiteOptions o = options("Asia/Ulaanbaatar", period("p", "2027-01-01", "2027-01-04"));
  o.rollover = "100000";
  Site site(o);
  // Day 1: 99,700 .. 99,930 (10 an hour); day 2: 99,995 at 06:00, 5 at 07:00 (wrapped), then 10 an hour;
  // day 3: a reset at 12:00 from 355 to 100 (nothing counted across it), then 10 an hour.
  std::vector<double> values;
  for (int h = 0; h < 24; ++h) values.push_back(99'700 + 10 * h);  // .. 99,930
  for (int h = 0; h < 24; ++h) values.push_back(h < 6 ? 99'940 + 10 * h : h == 6 ? 99'995 : 5 + 10 * (h - 7));
  for (int h = 0; h <= 24; ++h) values.push_back(h < 12 ? 175 + 10 * h : 100 + 10 * (h - 12));
  for (size_t i = 0; i < values.size(); ++i)
    site.add(kMeter, site.local("2027-01-01", static_cast<int64_t>(i) * 60), values[i]);
  auto r = site.report("p");
  const PointReport& p = point(r, "EG_p");
  REQUIRE(p.days.size() == 3);
  REQUIRE(p.events.size() == 2);
  CHECK(p.events[0].kind == report::CounterBreak::rollover);
  CHECK(p.events[1].kind == report::CounterBreak::reset);
  // Day 1: 230 counted from its first reading; day 2: 99,930 .. 99,995 (65), the wrap (10),
  // then 5 .. 165 (160); day 3: 165 .. 285 (120), the reset, then 100 .. 220 at the end (120).
  CHECK(p.days[0].value == Approx(0.230));
  CHECK(p.days[1].value == Approx((65 + 10 + 160) / 1000.0));
  CHECK(p.days[2].value == Approx((120 + 120) / 1000.0));
  check_sum(p);
}

TEST_CASE("days: a shared boundary's reading outside the period counts in the edge day", "[report][days]") {
  const std::string periods = period("a", "2027-01-01", "2027-01-04") + period("b", "2027-01-04", "2027-01-07");
  SECTION("the end register after the period's end") {
    Site site(options("Asia/Ulaanbaatar", periods));
    double v = 0;
    for (int64_t t = site.local("2027-01-01"); t < site.local("2027-01-04"); t += kHour, v += 10)
      site.add(kMeter, t, v);
    site.add(kMeter, site.local("2027-01-03", 23 * 60 + 30), v + 5);   // 23:30: 30 min before the end
    site.add(kMeter, site.local("2027-01-04", 10), v + 12);            // 00:10: closer, after the end
    site.add(kMeter, site.local("2027-01-04", 60), v + 20);
    auto r = site.report("a");
    const PointReport& p = point(r, "EG_p");
    REQUIRE(p.end);
    CHECK(p.end->reading.ts_ms == site.local("2027-01-04", 10));
    REQUIRE(p.days.size() == 3);
    CHECK(p.days[2].last->ts_ms == site.local("2027-01-04", 10));
    CHECK(p.days[2].value == Approx((24 * 10 + 15 + 7) / 1000.0));  // 470 .. 710, 725, 732
    CHECK(p.days[2].readings == 25);  // the one outside is no reading of the day
    check_sum(p);
  }
  SECTION("the start register before the period's start") {
    Site site(options("Asia/Ulaanbaatar", periods));
    site.add(kMeter, site.local("2027-01-03", 22 * 60), 880);
    site.add(kMeter, site.local("2027-01-03", 23 * 60 + 50), 900);  // 10 min before the start: closer
    double v = 930;
    for (int64_t t = site.local("2027-01-04", 30); t < site.local("2027-01-07"); t += kHour, v += 10)
      site.add(kMeter, t, v);
    auto r = site.report("b");
    const PointReport& p = point(r, "EG_p");
    REQUIRE(p.start);
    CHECK(p.start->reading.ts_ms == site.local("2027-01-03", 23 * 60 + 50));
    REQUIRE(p.days.size() == 3);
    CHECK(p.days[0].first->ts_ms == site.local("2027-01-03", 23 * 60 + 50));
    CHECK(p.days[0].value == Approx((30 + 23 * 10) / 1000.0));  // 900 .. 1,160 (23:30)
    CHECK(p.days[0].readings == 24);
    check_sum(p);
  }
}

TEST_CASE("days: an integral's trapezoid across midnight is cut at the value interpolated there", "[report][days]") {
  Site site(options("Asia/Ulaanbaatar", period("p", "2027-01-01", "2027-01-03")));
  // 0 kW through 23:00 on the 1st, 2 kW at 01:00 on the 2nd (no midnight reading), then 2 kW.
  for (int h = 0; h < 24; ++h) site.add(kPower, site.local("2027-01-01", h * 60), 0);
  for (int h = 1; h < 24; ++h) site.add(kPower, site.local("2027-01-02", h * 60), 2);
  auto r = site.report("p");
  const PointReport& p = point(r, "E_int");
  REQUIRE(p.days.size() == 2);
  check_tiling(p, r.period);
  // 1 kW at midnight: 23:00-00:00 (0 + 1) / 2 = 0.5 kWh; 00:00-01:00 (1 + 2) / 2 = 1.5 kWh,
  // 01:00-23:00 44 kWh and 23:00-24:00 held at 2 kW: 47.5 kWh.
  CHECK(p.days[0].value == Approx(0.5).epsilon(1e-12));
  CHECK(p.days[1].value == Approx(47.5).epsilon(1e-12));
  CHECK(p.value == Approx(48.0));
  check_sum(p);
  CHECK(*p.days[0].min == 0);
  CHECK(*p.days[0].max == 0);
  CHECK(*p.days[0].mean == Approx(0.5 / 24));
  CHECK(*p.days[1].mean == Approx(47.5 / 24));
  CHECK(p.days[1].readings == 23);
}

TEST_CASE("days: a gap is cut at midnight and counts as its rule says", "[report][days]") {
  for (std::string rule : {"zero", "substitute"}) {
    SiteOptions o = options("Asia/Ulaanbaatar", period("p", "2027-01-01", "2027-01-03"));
    o.gap_rule = rule;
    Site site(o);
    // 10 kW hourly, nothing from 20:00 on the 1st to 04:00 on the 2nd (8 h > 2.5 h).
    for (int h = 0; h <= 20; ++h) site.add(kPower, site.local("2027-01-01", h * 60), 10);
    for (int h = 4; h < 24; ++h) site.add(kPower, site.local("2027-01-02", h * 60), 10);
    auto r = site.report("p");
    const PointReport& p = point(r, "E_int");
    INFO(rule);
    REQUIRE(p.days.size() == 2);
    const double in_gap = rule == "zero" ? 0 : 3 * 4.0;  // 4 h of the gap on each day
    CHECK(p.days[0].value == Approx(200 + in_gap));
    CHECK(p.days[1].value == Approx(200 + in_gap));  // 04:00-23:00 and 23:00-24:00 held
    CHECK(p.days[0].gap_hours == Approx(4));
    CHECK(p.days[1].gap_hours == Approx(4));
    CHECK(p.days[0].gap_hours + p.days[1].gap_hours == Approx(p.gap_hours));
    CHECK(*p.days[0].mean == Approx(10));  // over the covered time only
    check_sum(p);
  }
}

TEST_CASE("days: a gauge's mean, min and max per day", "[report][days]") {
  Site site(options("Asia/Ulaanbaatar", period("p", "2027-01-01", "2027-01-03")));
  // The 1st: 10 kW, 40 kW at 12:00; the 2nd: 20 kW from its midnight on.
  for (int h = 0; h < 24; ++h) site.add(kPower, site.local("2027-01-01", h * 60), h == 12 ? 40 : 10);
  for (int h = 0; h < 24; ++h) site.add(kPower, site.local("2027-01-02", h * 60), 20);
  auto r = site.report("p");
  const PointReport& p = point(r, "P_mean");
  REQUIRE(p.days.size() == 2);
  const DayValue &first = p.days[0], &second = p.days[1];
  // 21 hours at 10, 11:00-13:00 at 25 on average, 23:00-00:00 at 15 (ends at midnight).
  CHECK(*first.mean == Approx((21 * 10 + 2 * 25 + 15) / 24.0));
  CHECK(*first.min == 10);
  CHECK(*first.max == 40);
  CHECK(first.value == 0);  // a mean has no share per day
  CHECK(first.readings == 24);
  CHECK(first.first->ts_ms == site.local("2027-01-01"));
  CHECK(first.last->ts_ms == site.local("2027-01-01", 23 * 60));
  CHECK(*second.mean == Approx(20));
  CHECK(*second.min == 20);
  CHECK(*second.max == 20);
  CHECK(*p.mean == Approx((21 * 10 + 2 * 25 + 15 + 24 * 20) / 48.0));
}

TEST_CASE("days: daylight saving in Europe/Berlin makes 23- and 25-hour days", "[report][days]") {
  Site site(options("Europe/Berlin",
                    period("spring", "2027-03-27", "2027-03-30") + period("autumn", "2027-10-30", "2027-11-02")));
  for (const auto& [from, to] : {std::pair{"2027-03-27", "2027-03-30"}, std::pair{"2027-10-30", "2027-11-02"}}) {
    double v = 0;
    for (int64_t t = site.local(from); t <= site.local(to); t += kHour, v += 10) {
      site.add(kMeter, t, v);
      site.add(kPower, t, 10);
    }
  }
  for (const auto& [name, middle_h] : {std::pair{"spring", 23}, std::pair{"autumn", 25}}) {
    auto r = site.report(name);
    INFO(name);
    for (const char* parameter : {"EG_p", "E_int"}) {
      const PointReport& p = point(r, parameter);
      REQUIRE(p.days.size() == 3);
      check_tiling(p, r.period);
      CHECK(p.days[0].to_ms - p.days[0].from_ms == 24 * kHour);
      CHECK(p.days[1].to_ms - p.days[1].from_ms == middle_h * kHour);
      CHECK(p.days[2].to_ms - p.days[2].from_ms == 24 * kHour);
      CHECK(p.days[1].readings == static_cast<uint64_t>(middle_h));
      check_sum(p);
    }
    CHECK(point(r, "EG_p").days[1].value == Approx(middle_h * 10 / 1000.0));
    CHECK(point(r, "E_int").days[1].value == Approx(middle_h * 10.0));
  }
}

TEST_CASE("days: a year is 365 or 366 days, without a reading too", "[report][days]") {
  Site site(options("Asia/Ulaanbaatar",
                    period("2027", "2027-01-01", "2028-01-01") + period("2028", "2028-01-01", "2029-01-01")));
  auto r2027 = site.report("2027");
  CHECK(point(r2027, "EG_p").days.size() == 365);
  CHECK(point(r2027, "E_int").days.size() == 365);
  CHECK(point(r2027, "EG_p").days.back().date == "2027-12-31");
  auto r2028 = site.report("2028");
  const PointReport& p = point(r2028, "E_int");
  REQUIRE(p.days.size() == 366);
  CHECK(p.days[59].date == "2028-02-29");
  CHECK(p.days[59].gap_hours == Approx(24));  // no reading: all one gap
  CHECK_FALSE(p.days[59].mean);
}
