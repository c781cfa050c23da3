#include <catch2/catch.hpp>

#include <cmath>
#include <regex>
#include <string>

#include "mrv/report/html.hpp"

using namespace mrv;
using namespace mrv::report;

namespace {
constexpr int64_t kMin = 60'000, kHour = 60 * kMin, kDay = 24 * kHour;
constexpr int64_t kStart = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
constexpr int64_t kEnd = kStart + 31 * kDay;   // 2026-02-01T00:00:00Z
const char* kHostile = "<script>alert(1)</script>";

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// A solar site: grid export from two counters, a fixed emission factor, two formulas.
struct Fixture {
  MonitoringConfig monitoring;
  Report report;

  Fixture() {
    monitoring.methodology = "JCM_XX_AM001";
    monitoring.version = "1.0";
    monitoring.emission_reductions = "ER_p";
    monitoring.parameters.push_back({"EG_p", std::string("Electricity fed to the grid ") + kHostile, "MWh",
                                     Aggregation::counter, {"m1", "m2"}, 0, "", "C", GapRule::zero, 0, "", "", "", "", ""});
    monitoring.parameters.push_back({"EF_grid", "Grid emission factor", "tCO2/MWh", Aggregation::fixed, {}, 0.797,
                                     "IGES grid emission factors, 2025 edition", "A", GapRule::zero, 0, "", "", "", "", ""});
    monitoring.formulas.push_back({"RE_p", "EG_p * EF_grid", "tCO2", ""});
    monitoring.formulas.push_back({"ER_p", "RE_p - 0", "tCO2", ""});
    monitoring.formulas.push_back({"PE_p", "0 / 0", "tCO2", ""});

    report.site_id = "site-7";
    report.config_hash_hex = std::string(64, 'a');
    report.monitoring = &monitoring;
    report.period = {"2026-01", kStart, kEnd};
    report.window_from_ms = kStart - kDay;
    report.window_to_ms = kEnd + kDay;
    report.generated_ms = kEnd + 2 * kDay + 1234;

    ParameterReport eg;
    eg.config = &monitoring.parameters[0];
    eg.measured = eg.value = 3222.222;
    eg.coverage = 0.9;
    eg.notes.push_back(std::string("a note ") + kHostile);
    eg.points.push_back(counter_point("m1", 1234.567));
    eg.points.push_back(counter_point("m2", 10.0));
    eg.points[1].gaps.push_back({kStart + 3 * kDay, kStart + 6 * kDay, "register difference", 0, false, {}});
    eg.points[1].events.push_back({CounterBreak::reset, {40, kStart + 10 * kDay, 500.0, "S2"},
                                   {41, kStart + 10 * kDay + kHour, 1.0, "S2"}});
    report.parameters.push_back(eg);

    ParameterReport ef;
    ef.config = &monitoring.parameters[1];
    ef.measured = ef.value = 0.797;
    report.parameters.push_back(ef);

    report.results.push_back({&monitoring.formulas[0], 2568.111111});
    report.results.push_back({&monitoring.formulas[1], 2568.111111});
    report.results.push_back({&monitoring.formulas[2], std::nan("")});
    report.emission_reductions = 2568.111111;
    report.credited_tco2 = 2568;
    report.seqs = {100, 4563, 4464};
    report.annex.end_checkpoint = "site-7 journal\n4564\nq83+ab==\n\n\xE2\x80\x94 site-7 sig==\n";
    report.annex.previous_checkpoint = "site-7 journal\n100\nzz==\n";
    report.annex.consistency_proof_hex = {std::string(64, 'b'), std::string(64, 'c')};
  }

  // A counter read hourly, with one day (buckets 10..11) without readings.
  static PointReport counter_point(const std::string& id, double from_value) {
    PointReport p;
    p.point_id = id;
    p.unit = "kWh";
    p.meter_serial = "S-" + id;
    p.calibration_valid_until = "2027-06-30";
    p.interval_ms = kHour;
    p.gap_limit_ms = 3 * kHour;
    p.expected_readings = 744;
    p.readings = 720;
    p.coverage = 720.0 / 744.0;
    p.gap_hours = 24;
    BoundaryValue start;
    start.how = BoundaryValue::How::reading;
    start.boundary_ms = kStart;
    start.distance_ms = -(2 * kHour + 5 * kMin);
    start.value = from_value;
    start.reading = {1, kStart + start.distance_ms, from_value, p.meter_serial};
    p.start = start;
    BoundaryValue end;
    end.how = BoundaryValue::How::interpolated;
    end.boundary_ms = kEnd;
    end.value = from_value + 1000;
    end.before = {700, kEnd - kHour, from_value + 999, p.meter_serial};
    end.after = {701, kEnd + kHour, from_value + 1001, p.meter_serial};
    p.end = end;
    for (int i = 0; i < 31; ++i) {
      uint32_t n = i == 10 || i == 11 ? 0 : 24;
      double v = from_value + 32.0 * i;
      p.chart.push_back({kStart + i * kDay, v, v + 31, v + 31, n});
    }
    return p;
  }
};
}  // namespace

TEST_CASE("report html: one self-contained document with the credited tonnes", "[report][html]") {
  Fixture f;
  std::string html = render_html(f.report);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(occurrences(html, "<html") == 1);
  CHECK(occurrences(html, "</html>") == 1);
  CHECK(html.find("<meta charset=\"utf-8\">") != std::string::npos);
  CHECK(html.find("2,568 tCO2") != std::string::npos);
  CHECK(html.find("2,568.111111") != std::string::npos);
  CHECK(html.find("JCM_XX_AM001") != std::string::npos);
  CHECK(html.find("2026-01-01T00:00:00Z") != std::string::npos);
  CHECK(html.find("2026-02-01T00:00:00Z") != std::string::npos);
  CHECK(html.find(std::string(64, 'a')) != std::string::npos);
  CHECK(html.find("IGES grid emission factors, 2025 edition") != std::string::npos);
  CHECK(html.find("96.77 %") != std::string::npos);  // 720 / 744, rounded down
  // No external resources and no script.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  CHECK(html.find("Incomplete") == std::string::npos);
}

TEST_CASE("report html: one chart per point with data, gaps shaded, empty buckets not drawn", "[report][html]") {
  Fixture f;
  std::string html = render_html(f.report);
  CHECK(occurrences(html, "<svg") == 2);
  CHECK(occurrences(html, "viewBox=") == 2);
  CHECK(occurrences(html, "aria-label=\"Readings of point m1") == 1);
  CHECK(occurrences(html, "<rect class=\"gap\"") == 1);
  // The day without readings splits each point's band and line in two.
  CHECK(occurrences(html, "<polygon class=\"band\"") == 4);
  CHECK(occurrences(html, "<polyline class=\"line\"") == 4);

  f.report.parameters[0].points[1].chart.clear();
  html = render_html(f.report);
  CHECK(occurrences(html, "<svg") == 1);
  CHECK(html.find("No readings to chart.") != std::string::npos);
}

TEST_CASE("report html: boundaries, events and gaps are stated in words", "[report][html]") {
  Fixture f;
  std::string html = render_html(f.report);
  CHECK(html.find("\xE2\x88\x92" "2 h 05 min") != std::string::npos);
  CHECK(html.find("interpolated") != std::string::npos);
  CHECK(html.find("reset") != std::string::npos);
  CHECK(html.find("500 kWh at 2026-01-11T00:00:00Z") != std::string::npos);
  CHECK(html.find("<td>3 d 0 h</td>") != std::string::npos);
  CHECK(html.find("register difference") != std::string::npos);
  CHECK(html.find("2027-06-30") != std::string::npos);
  CHECK(html.find("<pre>site-7 journal\n4564") != std::string::npos);
  CHECK(html.find(std::string(64, 'c')) != std::string::npos);
}

TEST_CASE("report html: untrusted text from the config appears only escaped", "[report][html]") {
  Fixture f;
  f.report.parameters[0].points[0].point_id = "m1\"><img onerror=x>";
  f.report.notes.push_back(std::string("note ") + kHostile + " & 'quotes'");
  std::string html = render_html(f.report);
  CHECK(html.find(kHostile) == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("m1&quot;&gt;&lt;img onerror=x&gt;") != std::string::npos);
  CHECK(html.find("&amp; &#39;quotes&#39;") != std::string::npos);
}

TEST_CASE("report html: NaN and infinity print as a dash, never nan or inf", "[report][html]") {
  Fixture f;
  f.report.emission_reductions = std::numeric_limits<double>::infinity();
  f.report.parameters[0].points[0].chart[3].last = std::nan("");
  f.report.parameters[0].points[0].mean = -std::numeric_limits<double>::infinity();
  std::string html = render_html(f.report);
  CHECK(html.find("<td>\xE2\x80\x94</td><td>tCO2</td>") != std::string::npos);  // PE_p = 0 / 0
  CHECK(html.find("exact: \xE2\x80\x94 tCO2") != std::string::npos);
  CHECK_FALSE(std::regex_search(html, std::regex(R"(\b-?(nan|inf)\b)", std::regex::icase)));
}

TEST_CASE("report html: an incomplete report says so plainly", "[report][html]") {
  Fixture f;
  f.report.complete = false;
  f.report.credited_tco2 = 0;
  f.report.parameters[0].has_data = false;
  f.report.notes.push_back("EG_p has no usable reading: nothing is credited");
  std::string html = render_html(f.report);
  CHECK(html.find("class=\"warning\"") != std::string::npos);
  CHECK(html.find("Incomplete report") != std::string::npos);
  CHECK(html.find("0 tCO2") != std::string::npos);
  CHECK(html.find("no data") != std::string::npos);
  CHECK(html.find("EG_p has no usable reading") != std::string::npos);
}

TEST_CASE("report html: the time axis has date ticks for a day, a month and a year", "[report][html]") {
  Fixture f;
  auto& point = f.report.parameters[0].points[0];
  CHECK(render_html(f.report).find(">2026-01-08</text>") != std::string::npos);

  f.report.period.end_ms = kStart + kDay;
  point.chart.resize(1);
  CHECK(render_html(f.report).find(">01-01 06:00</text>") != std::string::npos);

  f.report.period.end_ms = kStart + 365 * kDay;
  std::string year = render_html(f.report);
  CHECK(year.find(">2026-03</text>") != std::string::npos);
  CHECK(year.find(">2026-11</text>") != std::string::npos);
  CHECK(year.find(">2026-01-08</text>") == std::string::npos);
}

TEST_CASE("report html: numbers have up to 6 decimals and grouped thousands", "[report][html]") {
  Fixture f;
  f.report.results[0].value = -1234567.5;
  f.report.results[1].value = 0.1 + 0.2;
  f.report.results[2].value = -0.0;
  std::string html = render_html(f.report);
  CHECK(html.find("<td>-1,234,567.5</td>") != std::string::npos);
  CHECK(html.find("<td>0.3</td>") != std::string::npos);
  CHECK(html.find("<td>0</td><td>tCO2</td>") != std::string::npos);
}
