#include <catch2/catch.hpp>

#include "mrv/core/config.hpp"

using namespace mrv;

namespace {

// A grid-connected solar PV site (MN_AM003 style): the worked example's parameters.
const std::string kSite = R"(
[site]
id = "pv"
[journal]
path = "j.db"
[signing]
key_file = "k.key"
[[points]]
id = "pv1.export_kwh"
unit = "kWh"
kind = "cumulative"
interval_ms = 60000
[[points]]
id = "pv1.power_kw"
unit = "kW"
kind = "gauge"
interval_ms = 60000
)";

const std::string kMonitoring = R"(
[monitoring]
methodology = "MN_AM003"
version = "1.0"
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
source = "Mongolia national grid emission factor"
monitoring_option = "A"
[[monitoring.parameters]]
id = "EG_integral"
unit = "kWh"
aggregation = "integral"
point = "pv1.power_kw"
gap_rule = "substitute"
substitute = 0.5
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
expression = "RE_p - PE_p"
unit = "tCO2"
[[monitoring.periods]]
name = "2026-Q4"
start = 2026-10-01T00:00:00+08:00
end = 2027-01-01
)";

std::vector<std::string> errors_of(const std::string& text) {
  auto c = parse_config(text, "/cfg/site.toml");
  std::vector<std::string> out;
  if (!c)
    for (const auto& e : c.error()) out.push_back(e.to_string());
  return out;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("monitoring config: a solar methodology loads with its parameters, formulas and periods", "[config][monitoring]") {
  auto c = parse_config(kSite + kMonitoring, "/cfg/site.toml");
  REQUIRE(c);
  const MonitoringConfig& m = c->monitoring;
  CHECK(m.enabled);
  CHECK(m.methodology == "MN_AM003");
  REQUIRE(m.parameters.size() == 3);
  CHECK(m.parameters[0].aggregation == Aggregation::counter);
  CHECK(m.parameters[0].points == std::vector<std::string>{"pv1.export_kwh"});
  CHECK(m.parameters[1].value == 0.797);
  CHECK(m.parameters[1].monitoring_option == "A");
  CHECK(m.parameters[2].gap_rule == GapRule::substitute);
  REQUIRE(m.formulas.size() == 3);
  CHECK(m.emission_reductions == "ER_p");
  REQUIRE(m.periods.size() == 1);
  CHECK(m.periods[0].start_ms == 1790784000000);  // 2026-10-01T00:00+08:00 = 2026-09-30T16:00Z
  CHECK(m.periods[0].end_ms == 1798761600000);                      // 2027-01-01T00:00Z
  CHECK_FALSE(parse_config(kSite, "/cfg/site.toml")->monitoring.enabled);
}

TEST_CASE("monitoring config: unit mismatches and missing pieces are errors with file:line", "[config][monitoring]") {
  const std::string all = kSite + kMonitoring;
  auto has = [](const std::vector<std::string>& errors, const std::string& part) {
    for (const auto& e : errors)
      if (e.find(part) != std::string::npos) return true;
    return false;
  };
  auto e1 = errors_of(replaced(all, "expression = \"EG_p * EF_grid\"", "expression = \"EG_p + EF_grid\""));
  CHECK(has(e1, "/cfg/site.toml:"));
  CHECK(has(e1, "monitoring.formulas[0].expression: mixes quantities of unlike units"));
  auto e2 = errors_of(replaced(all, "unit = \"MWh\"\naggregation = \"counter\"", "unit = \"MW\"\naggregation = \"counter\""));
  CHECK(has(e2, "monitoring.parameters[0].unit: unit mismatch: counter of point 'pv1.export_kwh' (kWh) gives energy, not energy·time^-1 (MW)"));
  auto e3 = errors_of(replaced(all, "unit = \"kWh\"\naggregation = \"integral\"", "unit = \"kW\"\naggregation = \"integral\""));
  CHECK(has(e3, "monitoring.parameters[2].unit: unit mismatch: integral of point 'pv1.power_kw'"));
  CHECK(has(errors_of(replaced(all, "point = \"pv1.export_kwh\"", "point = \"pv9\"")), "no [[points]] entry with id 'pv9'"));
  CHECK(has(errors_of(replaced(all, "point = \"pv1.export_kwh\"", "point = \"pv1.power_kw\"")),
            "a counter difference needs a cumulative point"));
  CHECK(has(errors_of(replaced(all, "source = \"Mongolia national grid emission factor\"\n", "")),
            "monitoring.parameters[1].source: missing required key"));
  CHECK(has(errors_of(replaced(all, "start = 2026-10-01T00:00:00+08:00", "start = 2026-10-01T00:00:00")),
            "needs its offset"));
  CHECK(has(errors_of(replaced(all, "end = 2027-01-01", "end = 2026-09-01")), "monitoring.periods[0].end: must be after start"));
  CHECK(has(errors_of(replaced(all, "expression = \"RE_p - PE_p\"\nunit = \"tCO2\"", "expression = \"EG_p\"\nunit = \"MWh\"")),
            "must be a CO2 mass (tCO2)"));
  CHECK(has(errors_of(replaced(all, "id = \"PE_p\"", "id = \"RE_p\"")), "'RE_p' is already a parameter or formula"));
  CHECK(has(errors_of(replaced(all, "expression = \"EG_p * EF_grid\"", "expression = \"EG_p * EF_nope\"")),
            "'EF_nope' is not a parameter of the methodology"));
  CHECK(has(errors_of(replaced(all, "aggregation = \"counter\"", "aggregation = \"counter\"\ngap_rule = \"zero\"")),
            "only a time integral has a gap rule"));
}

TEST_CASE("monitoring config: periods may not overlap and must lie in the crediting period", "[config][monitoring]") {
  const std::string all = kSite + kMonitoring;
  auto has = [](const std::vector<std::string>& errors, const std::string& part) {
    for (const auto& e : errors)
      if (e.find(part) != std::string::npos) return true;
    return false;
  };
  const std::string second = "\n[[monitoring.periods]]\nname = \"2026-12\"\nstart = 2026-12-01T00:00:00+08:00\nend = 2027-01-01\n";
  auto overlapping = errors_of(all + second);
  CHECK(has(overlapping, "monitoring.periods[1]: period '2026-12' (2026-11-30 to 2026-12-31 (UTC)) overlaps period "
                         "'2026-Q4' (2026-09-30 to 2026-12-31 (UTC)): an emission reduction would be credited twice"));
  // Back to back is fine, in any order in the file; they come out sorted.
  auto back_to_back = parse_config(all + "\n[[monitoring.periods]]\nname = \"2026-Q3\"\nstart = 2026-07-01T00:00:00+08:00\n"
                                         "end = 2026-10-01T00:00:00+08:00\n", "/cfg/site.toml");
  REQUIRE(back_to_back);
  REQUIRE(back_to_back->monitoring.periods.size() == 2);
  CHECK(back_to_back->monitoring.periods[0].name == "2026-Q3");
  CHECK(back_to_back->monitoring.period_ending_at(back_to_back->monitoring.periods[1].start_ms)->name == "2026-Q3");
  CHECK(back_to_back->monitoring.period_starting_at(back_to_back->monitoring.periods[1].end_ms) == nullptr);

  const std::string crediting = "[monitoring.crediting_period]\nstart = 2026-11-01\nend = 2030-01-01\n";
  auto outside = errors_of(replaced(all, "[[monitoring.periods]]", crediting + "[[monitoring.periods]]"));
  CHECK(has(outside, "monitoring.periods[0]: period '2026-Q4' (2026-09-30 to 2026-12-31 (UTC)) reaches outside the "
                     "crediting period (2026-11-01 to 2029-12-31 (UTC))"));
  auto inside = parse_config(replaced(all, "[[monitoring.periods]]",
                                      replaced(crediting, "2026-11-01", "2026-09-01") + "[[monitoring.periods]]"),
                             "/cfg/site.toml");
  REQUIRE(inside);
  REQUIRE(inside->monitoring.crediting_period);
  CHECK(inside->monitoring.crediting_period->start_ms == 1788220800000);  // 2026-09-01T00:00Z
}

TEST_CASE("monitoring config: the site's time zone makes a bare date local midnight", "[config][monitoring]") {
  auto c = parse_config(replaced(kSite, "id = \"pv\"", "id = \"pv\"\ntimezone = \"Asia/Ulaanbaatar\"") +
                            replaced(kMonitoring, "start = 2026-10-01T00:00:00+08:00", "start = 2026-10-01"),
                        "/cfg/site.toml");
  REQUIRE(c);
  CHECK(c->monitoring.time_zone == "Asia/Ulaanbaatar");
  CHECK(c->monitoring.periods[0].start_ms == 1790784000000);  // 2026-10-01T00:00+08:00
  CHECK(c->monitoring.periods[0].end_ms == 1798732800000);    // 2027-01-01T00:00+08:00
  auto bad = errors_of(replaced(kSite, "id = \"pv\"", "id = \"pv\"\ntimezone = \"Mars/Olympus\"") + kMonitoring);
  REQUIRE_FALSE(bad.empty());
  CHECK(bad[0].find("site.timezone: 'Mars/Olympus' is not a time zone") != std::string::npos);
}

TEST_CASE("monitoring config: the monitoring option must fit where the value comes from", "[config][monitoring]") {
  const std::string all = kSite + kMonitoring;
  auto has = [](const std::vector<std::string>& errors, const std::string& part) {
    for (const auto& e : errors)
      if (e.find(part) != std::string::npos) return true;
    return false;
  };
  CHECK(has(errors_of(replaced(all, "monitoring_option = \"A\"", "monitoring_option = \"B\"")),
            "monitoring.parameters[1].monitoring_option: a fixed value is public data (\"A\", with its source) or "
            "fixed ex ante"));
  CHECK(has(errors_of(replaced(all, "point = \"pv1.export_kwh\"", "point = \"pv1.export_kwh\"\nmonitoring_option = \"A\"")),
            "a value measured by the project's meters is option C"));
  auto ex_ante = parse_config(replaced(all, "monitoring_option = \"A\"\n", ""), "/cfg/site.toml");
  REQUIRE(ex_ante);
  CHECK(ex_ante->monitoring.parameters[1].monitoring_option == "ex-ante");
}

TEST_CASE("monitoring config: what the JCM workbook needs, and monitoring points named once", "[config][monitoring][xlsx]") {
  auto bare = parse_config(kSite + kMonitoring, "/cfg/site.toml");
  REQUIRE(bare);
  auto missing = bare->monitoring.workbook_missing();
  REQUIRE(missing.size() == 4);  // reference number, title, and the two measured parameters' points
  CHECK(missing[0] == "monitoring.reference_number");
  CHECK(missing[1] == "monitoring.title");
  CHECK(missing[2] == "monitoring.parameters[0].monitoring_point (EG_p)");

  std::string text = replaced(kSite + kMonitoring, "[[monitoring.parameters]]\nid = \"EG_p\"",
                              "reference_number = \"MN017\"\ntitle = \"PV in Darkhan\"\ndocuments_dir = \"docs\"\n"
                              "[[monitoring.parameters]]\nid = \"EG_p\"\nmonitoring_point = \"(1)\"\n"
                              "measurement_methods = \"revenue meter\"\nmonitoring_frequency = \"every minute\"");
  auto ready = parse_config(replaced(text, "aggregation = \"integral\"", "aggregation = \"integral\"\nmonitoring_point = \"(2)\""),
                            "/cfg/site.toml");
  REQUIRE(ready);
  CHECK(ready->monitoring.workbook_missing().empty());
  CHECK(ready->monitoring.reference_number == "MN017");
  CHECK(ready->monitoring.documents_dir == "/cfg/docs");
  CHECK(ready->monitoring.parameters[0].measurement_methods == "revenue meter");

  auto twice = errors_of(replaced(text, "aggregation = \"integral\"", "aggregation = \"integral\"\nmonitoring_point = \"(1)\""));
  REQUIRE(twice.size() == 1);
  CHECK_THAT(twice[0], Catch::Contains("monitoring point '(1)' is given to another parameter already"));
  auto fixed = errors_of(replaced(text, "aggregation = \"fixed\"", "aggregation = \"fixed\"\nmonitoring_point = \"(3)\""));
  REQUIRE(fixed.size() == 1);
  CHECK_THAT(fixed[0], Catch::Contains("has no monitoring point"));
}
