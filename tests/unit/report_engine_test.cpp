// Monitoring reports from real journals (signed, chained SQLite files): the worked solar
// example and each irregularity the issue lists, with the numbers and what the report
// says about them.
#include <catch2/catch.hpp>

#include "mrv/evidence/bundle.hpp"
#include "mrv/agent/report_builder.hpp"
#include "mrv/core/checkpoint.hpp"
#include "mrv/core/merkle.hpp"
#include "mrv/core/site_record.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/report/csv.hpp"
#include "mrv/report/format.hpp"
#include "mrv/report/json.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::test;
using mrv::report::format_decimal;

namespace {

constexpr int64_t kMin = 60'000, kHour = 60 * kMin, kDay = 24 * kHour;
const int64_t kStart = *parse_time_ms("2026-01-01T00:00:00Z");
const int64_t kEnd = kStart + 30 * kDay;  // period "2026-01"

struct SiteOptions {
  std::string serial = "EXP-1";
  std::string calibration = "2027-12-31";
  std::string rollover;           // rollover_at of the export register
  bool interpolate = false;
  std::string extra_parameters;   // more [[monitoring.parameters]]
  std::string er_expression = "RE_p - PE_p";
  std::string monitoring_extra;   // more keys or tables in [monitoring] (crediting period)
};

// A grid-connected PV site (MN_AM003 style): export register in kWh every 15 min, EG_p
// in MWh, EF 0.797 tCO2/MWh.
std::string site_config(const SiteOptions& o) {
  return R"x(
[site]
id = "pv-site"
[journal]
path = "journal.db"
[signing]
key_file = "ed25519-test.key"
[[points]]
id = "pv1.export_kwh"
unit = "kWh"
kind = "cumulative"
interval_ms = 900000
meter_serial = ")x" + o.serial + R"x("
accuracy_class = "0.5S"
calibration_valid_until = )x" + o.calibration + "\n" +
         (o.rollover.empty() ? "" : "rollover_at = " + o.rollover + "\n") + R"x(
[[points]]
id = "pv1.power_kw"
unit = "kW"
kind = "gauge"
interval_ms = 900000
[monitoring]
methodology = "MN_AM003"
version = "1.0"
allow_interpolation = )x" + (o.interpolate ? "true" : "false") + "\n" + o.monitoring_extra + R"x(
[[monitoring.parameters]]
id = "EG_p"
description = "Electricity delivered to the grid"
unit = "MWh"
aggregation = "counter"
point = "pv1.export_kwh"
[[monitoring.parameters]]
id = "EF_grid"
unit = "tCO2/MWh"
aggregation = "fixed"
value = 0.797
source = "Mongolia national grid emission factor (JCM)"
monitoring_option = "A"
)x" + o.extra_parameters + R"x(
[[monitoring.formulas]]
id = "RE_p"
expression = "EG_p * EF_grid"
unit = "tCO2"
[[monitoring.formulas]]
id = "PE_p"
expression = "0"
unit = "tCO2"
[[monitoring.formulas]]
id = "ER_p"
expression = ")x" + o.er_expression + R"x("
unit = "tCO2"
[[monitoring.periods]]
name = "2026-01"
start = 2026-01-01T00:00:00Z
end = 2026-01-31T00:00:00Z
[[monitoring.periods]]
name = "2026-02"
start = 2026-01-31T00:00:00Z
end = 2026-03-02T00:00:00Z
)x";
}

class Site {
 public:
  explicit Site(SiteOptions o = {}) { use_config(std::move(o)); }

  void use_config(SiteOptions o) {
    text_ = site_config(o);
    auto c = parse_config(text_, dir_ / "site.toml");
    if (!c) FAIL(c.error().front().to_string());
    config_ = std::move(*c);
    journal_.reset();
    auto options = journal_options(dir_);
    options.site_id = "pv-site";
    options.config_hash_hex = config_.hash_hex;
    options.config_text = text_;
    auto j = Journal::open_for_writing(options, test_signer(dir_));
    if (!j) FAIL(j.error().to_string());
    journal_.emplace(std::move(*j));
  }

  void add(const std::string& point, int64_t ts_ms, double value, Quality q = Quality::good) {
    auto a = accepted(point, ts_ms, format_decimal(value, 3));
    a.reading.unit = point == "pv1.export_kwh" ? "kWh" : "kW";
    a.reading.quality = q;
    if (q != Quality::good) a.reading.reason = "test";
    batch_.push_back(a);
    if (batch_.size() >= 2048) flush();
  }
  // The export register every 15 min over [from, to), rising linearly from `at_from` by
  // `kwh_per_step` a step.
  void register_run(int64_t from, int64_t to, double at_from, double kwh_per_step) {
    double v = at_from;
    for (int64_t t = from; t < to; t += 15 * kMin, v += kwh_per_step) add("pv1.export_kwh", t, v);
  }
  void flush() {
    if (batch_.empty()) return;
    auto r = journal_->append(batch_);
    if (!r) FAIL(r.error().to_string());
    batch_.clear();
  }

  report::Report report(const std::string& period = "2026-01") {
    flush();
    auto cp = journal_->checkpoint("test");
    if (!cp) FAIL(cp.error().to_string());
    auto r = agent::build_report(*journal_, config_, period);
    if (!r) FAIL(r.error().to_string());
    return std::move(*r);
  }
  const Config& config() const { return config_; }
  Journal& journal() { return *journal_; }

 private:
  TempDir dir_;
  std::string text_;
  Config config_;
  std::optional<Journal> journal_;
  std::vector<AcceptedReading> batch_;
};

const report::ParameterReport& parameter(const report::Report& r, const std::string& id) {
  for (const auto& p : r.parameters)
    if (p.config->id == id) return p;
  throw std::runtime_error("no parameter " + id);
}

double result(const report::Report& r, const std::string& id) {
  for (const auto& f : r.results)
    if (f.config->id == id) return f.value;
  throw std::runtime_error("no result " + id);
}

bool any_note(const std::vector<std::string>& notes, const std::string& part) {
  for (const auto& n : notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("report: the worked solar example gives 2,568 tCO2", "[report][engine]") {
  Site site;
  // 1,234,567 kWh at the start, 4,456,789 kWh at the end: 3,222,222 kWh over 2,880 steps.
  const double step = (4'456'789.0 - 1'234'567.0) / 2880;
  site.register_run(kStart - kDay, kStart, 1'234'567.0 - 96 * step, step);
  site.register_run(kStart, kEnd + kDay, 1'234'567.0, step);
  auto r = site.report();
  const auto& eg = parameter(r, "EG_p");
  CHECK(format_decimal(eg.value) == "3222.222");
  CHECK(eg.points[0].start->value == Approx(1'234'567.0));
  CHECK(eg.points[0].start->distance_ms == 0);
  CHECK(eg.points[0].end->value == Approx(4'456'789.0));
  CHECK(eg.points[0].end->distance_ms == 0);
  CHECK(eg.points[0].readings == 2880);
  CHECK(eg.points[0].expected_readings == 2880);
  CHECK(eg.points[0].coverage == 1.0);
  CHECK(eg.points[0].gaps.empty());
  CHECK(format_decimal(result(r, "RE_p")) == "2568.110934");
  CHECK(result(r, "PE_p") == 0.0);
  CHECK(r.credited_tco2 == 2568);
  CHECK(r.complete);
  CHECK_FALSE(r.annex.end_checkpoint.empty());
  auto csv = report::render_csv(r);
  CHECK(csv.find("EG_p,Electricity delivered to the grid,3222.222,MWh,C") != std::string::npos);
  CHECK(csv.find("ER_p (credited),rounded down to whole tonnes,2568,tCO2") != std::string::npos);
}

TEST_CASE("report: a counter rollover is counted across the wrap and said", "[report][engine]") {
  SiteOptions o;
  o.rollover = "999999.999";
  Site site(o);
  site.register_run(kStart, kStart + 10 * kDay, 990'000.0, 10.0);  // reaches 999,590
  site.register_run(kStart + 10 * kDay, kEnd + kHour, 0.0 + 10.0 - (999'999.999 - 999'590.0 - 0.0) + 400.0, 10.0);
  auto r = site.report();
  const auto& eg = parameter(r, "EG_p");
  REQUIRE(eg.points[0].events.size() == 1);
  CHECK(eg.points[0].events[0].kind == report::CounterBreak::rollover);
  // Every 15 min 10 kWh, across the wrap too: 2,880 steps.
  double expected = 0;
  {
    double before = 999'590.0, after = 10.0 - (999'999.999 - 999'590.0) + 400.0;
    expected = (before - 990'000.0) + (999'999.999 - before) + after + (eg.points[0].end->value - after);
  }
  CHECK(eg.measured * 1000 == Approx(expected));
  CHECK(any_note(eg.notes, "rolled over"));
}

TEST_CASE("report: a meter reset starts a new segment and what it lost is not credited", "[report][engine]") {
  Site site;
  site.register_run(kStart, kStart + 10 * kDay, 5000.0, 10.0);  // 960 steps: 5000 .. 14590
  site.register_run(kStart + 10 * kDay, kEnd + kHour, 0.0, 10.0);  // reset to 0
  auto r = site.report();
  const auto& pt = parameter(r, "EG_p").points[0];
  REQUIRE(pt.events.size() == 1);
  CHECK(pt.events[0].kind == report::CounterBreak::reset);
  REQUIRE(pt.segments.size() == 2);
  CHECK(pt.segments[0].counted == Approx(9590.0));
  CHECK(pt.segments[1].counted == Approx(1919 * 10.0 + 10.0));  // to the first reading after the end
  CHECK(parameter(r, "EG_p").value * 1000 == Approx(9590.0 + 19200.0));
  CHECK(any_note(parameter(r, "EG_p").notes, "register reset between"));
}

TEST_CASE("report: a meter exchange (new serial in a new config) is an event, not a reset", "[report][engine]") {
  Site site;
  site.register_run(kStart, kStart + 10 * kDay, 5000.0, 10.0);
  site.flush();
  SiteOptions exchanged;
  exchanged.serial = "EXP-2";
  site.use_config(exchanged);  // the agent restarted with the new meter's serial
  site.register_run(kStart + 10 * kDay, kEnd + kHour, 20.0, 10.0);
  auto r = site.report();
  const auto& pt = parameter(r, "EG_p").points[0];
  REQUIRE(pt.events.size() == 1);
  CHECK(pt.events[0].kind == report::CounterBreak::exchange);
  CHECK(pt.events[0].before.meter_serial == "EXP-1");
  CHECK(pt.events[0].after.meter_serial == "EXP-2");
  CHECK(parameter(r, "EG_p").value * 1000 == Approx(9590.0 + 19200.0));
  CHECK(any_note(parameter(r, "EG_p").notes, "meter exchanged (serial EXP-1 -> EXP-2)"));
}

TEST_CASE("report: a 3-day gap in a counter loses no energy and is listed", "[report][engine]") {
  Site site;
  const double step = 10.0;
  double v = 1000.0;
  for (int64_t t = kStart; t < kEnd + kHour; t += 15 * kMin, v += step)
    if (t < kStart + 5 * kDay || t >= kStart + 8 * kDay) site.add("pv1.export_kwh", t, v);
  auto r = site.report();
  const auto& p = parameter(r, "EG_p");
  CHECK(p.value * 1000 == Approx(2880 * step));  // end - start: nothing lost
  REQUIRE(p.points[0].gaps.size() == 1);
  const auto& g = p.points[0].gaps[0];
  CHECK(g.to_ms - g.from_ms == 3 * kDay + 15 * kMin);
  CHECK(g.rule == "register difference");
  CHECK_FALSE(g.over_break);
  CHECK(p.points[0].readings == 2880 - 288);
  CHECK(p.points[0].coverage == Approx(0.9));
  CHECK(any_note(p.notes, "no energy is lost"));
}

TEST_CASE("report: a reset inside a gap is flagged", "[report][engine]") {
  Site site;
  site.register_run(kStart, kStart + 5 * kDay, 1000.0, 10.0);
  site.register_run(kStart + 8 * kDay, kEnd + kHour, 3.0, 10.0);  // came back reset
  auto r = site.report();
  const auto& pt = parameter(r, "EG_p").points[0];
  REQUIRE(pt.gaps.size() == 1);
  CHECK(pt.gaps[0].over_break);
  CHECK(any_note(parameter(r, "EG_p").notes, "during the gap"));
}

TEST_CASE("report: a gap in an integrated power counts as zero or the substitute", "[report][engine]") {
  for (std::string rule : {"zero", "substitute"}) {
    SiteOptions o;
    o.extra_parameters = R"(
[[monitoring.parameters]]
id = "EG_power"
unit = "MWh"
aggregation = "integral"
point = "pv1.power_kw"
gap_rule = ")" + rule + "\"\n" + (rule == "substitute" ? "substitute = 40\n" : "");
    o.er_expression = "EG_power * EF_grid";
    Site site(o);
    site.register_run(kStart, kEnd + kHour, 0.0, 10.0);
    for (int64_t t = kStart; t < kEnd; t += 15 * kMin)
      if (t < kStart + 2 * kDay || t >= kStart + 3 * kDay) site.add("pv1.power_kw", t, 100.0);  // 100 kW
    auto r = site.report();
    const auto& p = parameter(r, "EG_power");
    REQUIRE(p.points[0].gaps.size() == 1);
    double gap_h = 24.0 + 0.25;  // from the last reading before it
    CHECK(p.points[0].gaps[0].rule == rule);
    double expected_mwh = (720.0 - gap_h) * 100.0 / 1000 + (rule == "zero" ? 0.0 : gap_h * 40.0 / 1000);
    CHECK(p.value == Approx(expected_mwh));
    CHECK(r.credited_tco2 == static_cast<int64_t>(std::floor(expected_mwh * 0.797 + 1e-9)));
    CHECK(any_note(p.notes, rule == "zero" ? "counted as zero" : "counted at the substitute 40 kW"));
    CHECK_FALSE(any_note(r.notes, "not conservative"));  // less EG_power, less ER: conservative
  }
}

TEST_CASE("report: a gap in a parameter that lowers the reductions is called not conservative", "[report][engine]") {
  SiteOptions o;
  o.extra_parameters = R"x(
[[monitoring.parameters]]
id = "EC_PJ"
unit = "MWh"
aggregation = "integral"
point = "pv1.power_kw"
)x";
  o.er_expression = "RE_p - EC_PJ * EF_grid";  // the project's own consumption
  Site site(o);
  site.register_run(kStart, kEnd + kHour, 0.0, 10.0);
  for (int64_t t = kStart; t < kEnd; t += 15 * kMin)
    if (t < kStart + 2 * kDay || t >= kStart + 3 * kDay) site.add("pv1.power_kw", t, 1.0);
  auto r = site.report();
  CHECK(any_note(r.notes, "EC_PJ: its gaps (24.25 h) lower it, and a lower EC_PJ raises the emission reductions"));
}

TEST_CASE("report: a boundary far from any reading is stated; interpolated only when allowed", "[report][engine]") {
  for (bool interpolate : {false, true}) {
    SiteOptions o;
    o.interpolate = interpolate;
    Site site(o);
    // Readings stop 2 h before the period's end and resume 5 h after it.
    site.register_run(kStart - kHour, kEnd - 2 * kHour, 1000.0, 10.0);
    site.register_run(kEnd + 5 * kHour, kEnd + kDay, 1000.0 + 10.0 * (4 * (720 - 1) + 28), 10.0);
    auto r = site.report();
    const auto& pt = parameter(r, "EG_p").points[0];
    REQUIRE(pt.end);
    if (!interpolate) {
      CHECK(pt.end->how == report::BoundaryValue::How::reading);
      CHECK(pt.end->distance_ms == -2 * kHour - 15 * kMin);  // the last reading, 2 h 15 min before
      CHECK(pt.end->far);
      CHECK(any_note(parameter(r, "EG_p").notes, "end register read 2 h 15 min before the boundary"));
      REQUIRE_FALSE(pt.gaps.empty());  // what the meter counted in those hours is not in the period
      CHECK(pt.gaps.back().rule == "not counted (no reading)");
      CHECK(pt.gaps.back().to_ms - pt.gaps.back().from_ms == 2 * kHour + 15 * kMin);
      CHECK(any_note(parameter(r, "EG_p").notes, "no reading near one end"));
    } else {
      CHECK(pt.end->how == report::BoundaryValue::How::interpolated);
      // A straight line from the last reading before to the first after.
      double before = pt.end->before.value, after = pt.end->after.value;
      double fraction = static_cast<double>(kEnd - pt.end->before.ts_ms) /
                        static_cast<double>(pt.end->after.ts_ms - pt.end->before.ts_ms);
      CHECK(pt.end->value == Approx(before + (after - before) * fraction));
      CHECK(any_note(parameter(r, "EG_p").notes, "interpolated at 2026-01-31T00:00:00Z"));
    }
  }
}

TEST_CASE("report: readings after the calibration ran out are corrected against the project", "[report][engine]") {
  SiteOptions o;
  o.calibration = "2026-01-20";  // valid through Jan 20: the last 10 days are out
  Site site(o);
  site.register_run(kStart, kEnd + kHour, 0.0, 10.0);
  auto r = site.report();
  const auto& p = parameter(r, "EG_p");
  CHECK(p.points[0].out_of_calibration == 10 * 96);
  double out_kwh = 10 * 96 * 10.0;
  CHECK(p.points[0].out_of_calibration_value * 1000 == Approx(out_kwh + 10.0));  // and the end reading's step
  CHECK(p.correction * 1000 == Approx(-(out_kwh + 10.0) * 0.005));             // class 0.5S, downwards
  CHECK(p.value == Approx(p.measured + p.correction));
  CHECK(any_note(p.notes, "applied against the project"));
  CHECK(result(r, "RE_p") == Approx(p.value * 0.797));
}

TEST_CASE("report: the signed JSON round-trips; the annex proves the previous period's checkpoint", "[report][engine]") {
  Site site;
  site.register_run(kStart, kEnd + 31 * kDay, 0.0, 10.0);
  auto january = site.report("2026-01");
  auto february = site.report("2026-02");
  CHECK(february.annex.previous_checkpoint == january.annex.end_checkpoint);
  auto end = parse_checkpoint(february.annex.end_checkpoint);
  auto previous = parse_checkpoint(february.annex.previous_checkpoint);
  REQUIRE(end);
  REQUIRE(previous);
  std::vector<Sha256> proof;
  for (const auto& h : february.annex.consistency_proof_hex) {
    Sha256 s{};
    auto raw = from_hex(h);
    REQUIRE(raw);
    std::copy(raw->begin(), raw->end(), reinterpret_cast<char*>(s.data()));
    proof.push_back(s);
  }
  CHECK(merkle_verify_consistency(previous->tree_size, end->tree_size, previous->root, end->root, proof));
  // Adjacent periods share the boundary reading: nothing counted twice or lost.
  CHECK((parameter(january, "EG_p").value + parameter(february, "EG_p").value) * 1000 == Approx(5760 * 10.0));

  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(february, signer);
  REQUIRE(text);
  auto parsed = report::parse_signed_report(*text);
  REQUIRE(parsed);
  CHECK(parsed->canonical == report::report_canonical(february));
  CHECK(parsed->computed == report::recomputable_part(february));
  auto key = PublicKey::from_pem(signer.public_pem());
  REQUIRE(key);
  auto raw = from_base64(parsed->signature.value_b64);
  REQUIRE(raw);
  CHECK(key->verify(parsed->canonical, *raw));
  CHECK_FALSE(key->verify(parsed->canonical + " ", *raw));
}

TEST_CASE("report: a bundle exported later, with more of the window, still recomputes the report", "[report][engine]") {
  Site site;
  site.register_run(kStart, kEnd + kDay, 0.0, 10.0);
  auto r = site.report();
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  // Readings of the window arrive after the report (a late meter upload).
  site.register_run(kEnd + 2 * kDay, kEnd + 3 * kDay, 30'000.0, 10.0);
  site.add("pv1.power_kw", kEnd - kHour, 5.0);
  site.flush();
  REQUIRE(site.journal().checkpoint("later"));
  evidence::BundleRequest request;
  request.from_ms = r.window_from_ms;
  request.to_ms = r.window_to_ms;
  request.out = dir / "later.tar.gz";
  request.signer = &signer;
  request.report_json = *text;
  REQUIRE(evidence::write_bundle(site.journal(), "pv-site", request));
  auto key = PublicKey::from_pem(signer.public_pem());
  REQUIRE(key);
  std::vector<PublicKey> pinned;
  pinned.push_back(std::move(*key));
  auto verdict = evidence::verify_bundle(request.out, pinned, std::nullopt);
  INFO(verdict.to_text());
  CHECK(verdict.failures.empty());
  CHECK(any_note(verdict.notes, "every parameter and result matches (credited 22 tCO2)"));

  // The same report with one number changed no longer verifies (its signature, and so
  // also a re-signed forgery's numbers, are checked).
  auto forged = *text;
  auto at = forged.find("\"credited_tco2\": 22");
  REQUIRE(at != std::string::npos);
  forged.replace(at, 19, "\"credited_tco2\": 23");
  request.out = dir / "forged.tar.gz";
  request.report_json = forged;
  REQUIRE(evidence::write_bundle(site.journal(), "pv-site", request));
  auto bad = evidence::verify_bundle(request.out, pinned, std::nullopt);
  REQUIRE(bad.failures.count("report"));
  CHECK(bad.failures.at("report").find("signature does not verify") != std::string::npos);
}

// The defects a review found (issue 16), each with the case that showed it.

TEST_CASE("report: a start no other period shares counts no energy from before it", "[report][engine]") {
  Site site;
  // Readings until 12 h before the first period, none again until a day into it: the
  // reading 12 h before is the closest, but what the meter counted before the start
  // (outside any period, maybe outside the crediting period) must not count.
  site.register_run(kStart - 3 * kDay, kStart - 12 * kHour, 1000.0, 10.0);
  site.register_run(kStart + kDay, kEnd + kHour, 50'000.0, 10.0);
  auto r = site.report("2026-01");
  const auto& pt = parameter(r, "EG_p").points[0];
  REQUIRE(pt.start);
  CHECK(pt.start->reading.ts_ms == kStart + kDay);
  CHECK(pt.start->value == Approx(50'000.0));
  CHECK(parameter(r, "EG_p").value * 1000 == Approx(29 * 96 * 10.0));
  REQUIRE_FALSE(pt.gaps.empty());
  CHECK(pt.gaps.front().rule == "not counted (no reading)");
}

TEST_CASE("report: the crediting period's end takes no reading after it", "[report][engine]") {
  SiteOptions o;
  o.monitoring_extra = "[monitoring.crediting_period]\nstart = 2026-01-01\nend = 2026-03-02\n";
  Site site(o);
  // February is the last period: its end is the crediting period's. Readings stop 5 h
  // before it and resume 1 h after: the closer reading is after, and must not count.
  const int64_t feb_end = kEnd + 30 * kDay;
  site.register_run(kEnd - kDay, feb_end - 5 * kHour, 0.0, 10.0);
  site.register_run(feb_end + kHour, feb_end + kDay, 100'000.0, 10.0);
  auto r = site.report("2026-02");
  const auto& pt = parameter(r, "EG_p").points[0];
  REQUIRE(pt.end);
  CHECK(pt.end->reading.ts_ms == feb_end - 5 * kHour - 15 * kMin);
  CHECK(parameter(r, "EG_p").value * 1000 == Approx(pt.end->value - pt.start->value));
  CHECK(pt.end->value < 100'000.0);
}

TEST_CASE("report: a boundary two periods share is one reading for both, counted once", "[report][engine]") {
  for (int64_t before_h : {5, 4, 3}) {  // the closer reading is after, equally far (tie), before
    Site site;
    site.register_run(kStart, kEnd - before_h * kHour + 1, 0.0, 10.0);
    const int64_t resume = kEnd + 4 * kHour;
    double resume_value = 10.0 * static_cast<double>((resume - kStart) / (15 * kMin));
    site.register_run(resume, kEnd + 31 * kDay, resume_value, 10.0);
    auto january = site.report("2026-01");
    auto february = site.report("2026-02");
    const auto& jan = parameter(january, "EG_p").points[0];
    const auto& feb = parameter(february, "EG_p").points[0];
    INFO("last reading " << before_h << " h before the boundary");
    REQUIRE(jan.end);
    REQUIRE(feb.start);
    CHECK(jan.end->reading.seq == feb.start->reading.seq);
    CHECK(jan.end->reading.ts_ms == (before_h > 4 ? resume : kEnd - before_h * kHour));
    double total = (parameter(january, "EG_p").value + parameter(february, "EG_p").value) * 1000;
    CHECK(total == Approx(feb.end->value - jan.start->value));
  }
}

TEST_CASE("report: an informational parameter without data does not stop the credits", "[report][engine]") {
  SiteOptions o;
  o.extra_parameters = R"x(
[[monitoring.parameters]]
id = "P_inverter"
description = "Mean inverter power (informational)"
unit = "kW"
aggregation = "mean"
point = "pv1.power_kw"
)x";
  Site site(o);
  site.register_run(kStart, kEnd + kHour, 0.0, 10.0);  // no power reading at all
  auto r = site.report();
  CHECK_FALSE(parameter(r, "P_inverter").has_data);
  CHECK(parameter(r, "P_inverter").informational);
  CHECK_FALSE(parameter(r, "EG_p").informational);
  CHECK(r.complete);
  CHECK(r.credited_tco2 == static_cast<int64_t>(std::floor(2880 * 10.0 / 1000 * 0.797)));
  CHECK(any_note(r.notes, "P_inverter: no usable reading in the period; it is informational"));
}

TEST_CASE("report: credits are the exact value rounded down, as ROUNDDOWN does", "[report][engine]") {
  SiteOptions o;
  o.extra_parameters = R"x(
[[monitoring.parameters]]
id = "ER_fixed"
unit = "tCO2"
aggregation = "fixed"
value = 2567.9999996
source = "a value 4e-7 t below a whole tonne"
)x";
  o.er_expression = "ER_fixed";
  Site site(o);
  site.register_run(kStart, kEnd + kHour, 0.0, 10.0);
  auto r = site.report();
  CHECK(r.emission_reductions == Approx(2567.9999996).epsilon(1e-12));
  CHECK(r.credited_tco2 == 2567);  // the micro-tonne rounding credited 2568
  // The JSON's value_tco2 is not rounded up across the tonne: ⌊value_tco2⌋ = credited.
  CHECK(report::report_canonical(r).find("\"value_tco2\":\"2567.999999\"") != std::string::npos);
}

// Site records (issue 16): what people enter at the site changes how readings count.
namespace {

SiteRecord entry(SiteRecordKind kind, const std::string& point, int64_t ts_ms, std::string value, std::string unit,
                 std::map<std::string, std::string> details) {
  static int n = 0;
  SiteRecord r;
  r.kind = kind;
  char id[33];
  std::snprintf(id, sizeof id, "%032x", ++n);
  r.id = id;
  r.entered_by = "A. Tanaka";
  r.login = "tanaka";
  r.point = point;
  r.ts_ms = ts_ms;
  r.value = std::move(value);
  r.unit = std::move(unit);
  r.details = std::move(details);
  return r;
}

SiteRecord calibration(int64_t at, const std::string& serial, bool pass, const std::string& error, int64_t valid_until) {
  return entry(SiteRecordKind::calibration, "pv1.export_kwh", at, error, "%",
               {{"meter_serial", serial}, {"laboratory", "NMI Mongolia"}, {"certificate", "C-" + serial},
                {"certificate_sha256", std::string(64, 'c')}, {"result", pass ? "pass" : "fail"},
                {"valid_until", report::format_time(valid_until)}});
}

void enter(Site& site, const SiteRecord& r) {
  auto reading = site_record_reading(r);
  if (!reading) FAIL(reading.error().to_string());
  AcceptedReading a;
  a.reading = *reading;
  a.received = {r.ts_ms + kDay, 1, ClockSync::synchronised};
  a.type = RecordType::site_record;
  site.flush();
  auto appended = site.journal().append(std::vector<AcceptedReading>{a});
  if (!appended) FAIL(appended.error().to_string());
}

}  // namespace

TEST_CASE("report: a failed calibration corrects back to the last pass by the error found", "[report][engine][site]") {
  SiteOptions o;
  o.calibration = "2026-12-31";  // the config's date; the recorded calibrations decide from the first on
  Site site(o);
  site.register_run(kStart, kEnd + kHour, 0.0, 10.0);
  const int64_t pass_at = kStart - 31 * kDay, fail_at = kStart + 19 * kDay;
  enter(site, calibration(pass_at, "EXP-1", true, "0.2", pass_at + 365 * kDay));
  enter(site, calibration(fail_at, "EXP-1", false, "3", fail_at + 365 * kDay));  // found 3 % off (class 0.5S)
  auto r = site.report();
  const auto& p = parameter(r, "EG_p");
  const auto& pt = p.points[0];
  // Readings after the pass and before the failure: corrected by 3 %; after the failure
  // (no new pass): expired, by the class's 0.5 %.
  double failed_kwh = (19 * 96 - 1) * 10.0, expired_kwh = (11 * 96 + 1) * 10.0;
  CHECK(p.measured * 1000 == Approx(30 * 96 * 10.0));
  CHECK(p.correction * 1000 == Approx(-(failed_kwh * 0.03 + expired_kwh * 0.005)));
  CHECK(pt.calibration.stated);
  CHECK(pt.calibration.failed_h == Approx(19 * 24.0));
  CHECK(pt.calibration.expired_h == Approx(11 * 24.0));
  CHECK(pt.calibration.covered_h == 0);
  REQUIRE(pt.calibration.calibrations.size() == 2);
  CHECK(pt.calibration.calibrations[1].summary.find("FAILED, error 3 %") != std::string::npos);
  CHECK(any_note(p.notes, "calibration covers 0% of the period"));
  CHECK(r.seqs.last > 2880);  // the site records count among the report's records
}

TEST_CASE("report: a recorded meter exchange counts the energy across it", "[report][engine][site]") {
  for (bool recorded : {false, true}) {
    Site site;
    site.register_run(kStart, kStart + 10 * kDay + 1, 5000.0, 10.0);  // EXP-1 to 14,600 at day 10
    const int64_t swap = kStart + 10 * kDay + 30 * kMin;              // EXP-1 removed at 14,620
    site.register_run(swap + 30 * kMin, kEnd + kHour, 20.0, 10.0);    // EXP-2 from 0: 20 by 01:00
    if (recorded) {
      enter(site, entry(SiteRecordKind::meter_exchange, "pv1.export_kwh", swap, "", "kWh",
                        {{"old_serial", "EXP-1"}, {"old_final", "14620"}, {"new_serial", "EXP-2"}, {"new_initial", "0"}}));
      enter(site, calibration(swap, "EXP-2", true, "0.1", swap + 365 * kDay));
    }
    auto r = site.report();
    const auto& p = parameter(r, "EG_p");
    const auto& pt = p.points[0];
    INFO("recorded " << recorded);
    REQUIRE(pt.events.size() == 1);
    if (recorded) {
      CHECK(pt.events[0].kind == report::CounterBreak::exchange);
      CHECK(p.value * 1000 == Approx(30 * 96 * 10.0));  // nothing lost
      CHECK(p.correction == 0);  // the new meter's calibration was recorded
      CHECK(any_note(p.notes, "meter exchange recorded"));
      CHECK(pt.exchanges.size() == 1);
    } else {
      CHECK(pt.events[0].kind == report::CounterBreak::reset);
      CHECK(p.value * 1000 == Approx(30 * 96 * 10.0 - 40.0));  // the hour across the swap is lost
    }
  }
}

TEST_CASE("report: an unrecorded exchange says what was lost", "[report][engine][site]") {
  Site site;
  site.register_run(kStart, kStart + 10 * kDay + 1, 5000.0, 10.0);
  site.flush();
  SiteOptions exchanged;
  exchanged.serial = "EXP-2";
  site.use_config(exchanged);
  site.register_run(kStart + 10 * kDay + 2 * kHour, kEnd + kHour, 20.0, 10.0);
  auto r = site.report();
  // 40 kWh an hour: two hours lost is about 80 kWh.
  CHECK(any_note(parameter(r, "EG_p").notes, "without a recorded exchange; what either meter counted in those 2 h 00 min "
                                             "is not credited (at the period's mean rate, about 80 kWh)"));
}

TEST_CASE("report: a manual reading is the boundary value when the meter was silent", "[report][engine][site]") {
  Site site;
  site.register_run(kStart, kEnd - 2 * kDay, 0.0, 10.0);
  const double at_end = 10.0 * 30 * 96;
  site.register_run(kEnd + 3 * kDay, kEnd + 31 * kDay, at_end + 3 * 96 * 10.0, 10.0);
  enter(site, entry(SiteRecordKind::manual_reading, "pv1.export_kwh", kEnd, "28800", "kWh", {{"meter_serial", "EXP-1"}}));
  enter(site, entry(SiteRecordKind::manual_reading, "pv1.export_kwh", kEnd + kDay, "99999", "kWh", {{"meter_serial", "EXP-9"}}));
  auto january = site.report("2026-01");
  auto february = site.report("2026-02");
  const auto& jan = parameter(january, "EG_p").points[0];
  REQUIRE(jan.end);
  CHECK(jan.end->distance_ms == 0);
  CHECK(jan.end->value == Approx(at_end));
  CHECK(parameter(january, "EG_p").value * 1000 == Approx(at_end));
  REQUIRE(parameter(february, "EG_p").points[0].start);
  CHECK(parameter(february, "EG_p").points[0].start->reading.seq == jan.end->reading.seq);
  CHECK(parameter(february, "EG_p").points[0].manual_readings == 1);  // the boundary one; EXP-9's is not this meter's
  CHECK(any_note(parameter(february, "EG_p").notes, "names meter EXP-9, but the point's meter then was EXP-1: not used"));
}

TEST_CASE("report: invoices give an option B parameter and a cross-check finds a 3 % difference", "[report][engine][site]") {
  for (double factor : {1.01, 1.03}) {
    SiteOptions o;
    o.extra_parameters = R"x(
[[monitoring.parameters]]
id = "EG_invoice"
description = "Electricity sold, by the utility's invoices"
unit = "MWh"
aggregation = "documents"
document_type = "invoice"
)x";
    o.monitoring_extra = "[[monitoring.cross_checks]]\nid = \"EG_vs_invoice\"\nvalue = \"EG_p\"\nreference = \"EG_invoice\"\ntolerance_percent = 2\n";
    Site site(o);
    site.register_run(kStart, kEnd + kHour, 0.0, 10.0);  // 28.8 MWh
    // One invoice for the month; one for the half month before, which does not count.
    enter(site, entry(SiteRecordKind::document, "", kStart, format_decimal(28800 * factor, 3), "kWh",
                      {{"document_type", "invoice"}, {"number", "INV-1"}, {"issuer", "NPG"},
                       {"period_to", report::format_time(kEnd)}, {"file_sha256", std::string(64, 'f')},
                       {"file_name", "inv-1.pdf"}}));
    enter(site, entry(SiteRecordKind::document, "", kStart - 15 * kDay, "5000", "kWh",
                      {{"document_type", "invoice"}, {"number", "INV-0"}, {"issuer", "NPG"},
                       {"period_to", report::format_time(kStart)}, {"file_sha256", std::string(64, 'e')},
                       {"file_name", "inv-0.pdf"}}));
    auto r = site.report();
    const auto& inv = parameter(r, "EG_invoice");
    INFO("factor " << factor);
    CHECK(inv.informational);
    CHECK(inv.value == Approx(28.8 * factor));
    CHECK(inv.coverage == Approx(1.0));
    REQUIRE(inv.documents.size() == 1);
    REQUIRE(r.cross_checks.size() == 1);
    CHECK(*r.cross_checks[0].value == Approx(28.8));
    CHECK(r.cross_checks[0].difference_percent == Approx(std::abs(1 - 1 / factor) * 100));
    CHECK(r.cross_checks[0].pass == (factor < 1.02));
    CHECK(r.credited_tco2 == static_cast<int64_t>(std::floor(28.8 * 0.797)));  // a finding changes no number
    CHECK(any_note(r.notes, "cross-check EG_vs_invoice failed") == (factor > 1.02));
  }
}

TEST_CASE("report: a note explains an outage gap", "[report][engine][site]") {
  Site site;
  site.register_run(kStart, kStart + 5 * kDay, 0.0, 10.0);
  site.register_run(kStart + 8 * kDay, kEnd + kHour, 5 * 96 * 10.0 + 3 * 96 * 10.0, 10.0);
  enter(site, entry(SiteRecordKind::note, "pv1.export_kwh", kStart + 5 * kDay, "", "",
                    {{"text", "grid outage: the feeder was off for maintenance"},
                     {"to", report::format_time(kStart + 8 * kDay)}}));
  auto r = site.report();
  const auto& pt = parameter(r, "EG_p").points[0];
  REQUIRE(pt.gaps.size() == 1);
  REQUIRE(pt.gaps[0].explained_by.size() == 1);
  REQUIRE(r.site_notes.size() == 1);
  CHECK(r.site_notes[0].seq == pt.gaps[0].explained_by[0]);
  CHECK(r.site_notes[0].summary.find("grid outage") != std::string::npos);
}
