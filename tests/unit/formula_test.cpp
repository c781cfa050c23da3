#include <catch2/catch.hpp>

#include "mrv/core/formula.hpp"

using namespace mrv;

namespace {
Unit unit(const char* text) {
  auto u = parse_unit(text);
  REQUIRE(u);
  return *u;
}
}  // namespace

TEST_CASE("units: conversions within a dimension, errors across them", "[units]") {
  CHECK(convert(1'234'567, unit("kWh"), unit("MWh")).value() == Approx(1234.567));
  CHECK(convert(1, unit("tCO2/MWh"), unit("kgCO2/kWh")).value() == Approx(1.0));
  CHECK(convert(0.797, unit("tCO2/MWh"), unit("gCO2/kWh")).value() == Approx(797));
  CHECK(convert(90, unit("min"), unit("h")).value() == Approx(1.5));
  CHECK(convert(2, unit("kW*h"), unit("kWh")).value() == Approx(2));
  CHECK(convert(3.6, unit("MJ"), unit("kWh")).value() == Approx(1));
  CHECK(convert(50, unit("%"), unit("1")).value() == Approx(0.5));
  CHECK(unit("kW/kW").dimension == unit("").dimension);
  auto mismatch = convert(1, unit("kW"), unit("kWh"));
  REQUIRE_FALSE(mismatch);
  CHECK(mismatch.error().message == "unit mismatch: energy·time^-1 is not energy");
  CHECK_FALSE(parse_unit("kWhh"));
  CHECK(parse_unit("kWhh").error().message == "unknown unit 'kWhh'");
  CHECK_FALSE(parse_unit("t/h/m3"));
  CHECK_FALSE(parse_unit("kWh/"));
}

TEST_CASE("formula: the worked solar example, in the units it is declared in", "[formula]") {
  std::map<std::string, Unit> params{{"EG_p", unit("MWh")}, {"EF_grid", unit("tCO2/MWh")}};
  auto re = Formula::compile("EG_p * EF_grid", params, unit("tCO2"));
  REQUIRE(re);
  CHECK(re->evaluate({{"EG_p", 4456.789 - 1234.567}, {"EF_grid", 0.797}}).value() == Approx(2568.110934).epsilon(1e-12));
  // The same with the energy in kWh and the result in kg: converted, not mixed up.
  params["EG_p"] = unit("kWh");
  auto kg = Formula::compile("EG_p * EF_grid", params, unit("kgCO2"));
  REQUIRE(kg);
  CHECK(kg->evaluate({{"EG_p", 3'222'222}, {"EF_grid", 0.797}}).value() == Approx(2'568'110.934).epsilon(1e-12));
  auto pe = Formula::compile("0", params, unit("tCO2"));  // PE_p = 0 fits its unit
  REQUIRE(pe);
  CHECK(pe->evaluate({}).value() == 0);
  auto er = Formula::compile("max(RE_p - PE_p, 0)", {{"RE_p", unit("tCO2")}, {"PE_p", unit("kgCO2")}}, unit("tCO2"));
  REQUIRE(er);
  CHECK(er->evaluate({{"RE_p", 10}, {"PE_p", 2500}}).value() == Approx(7.5));
}

TEST_CASE("formula: the chiller methodology's ratio of COPs is dimensionless", "[formula]") {
  std::map<std::string, Unit> params{{"EC_PJ", unit("MWh")}, {"COP_PJ", unit("1")}, {"COP_RE", unit("kW/kW")},
                                     {"EF_elec", unit("tCO2/MWh")}};
  auto re = Formula::compile("EC_PJ * (COP_PJ / COP_RE) * EF_elec", params, unit("tCO2"));
  REQUIRE(re);
  CHECK(re->evaluate({{"EC_PJ", 1000}, {"COP_PJ", 6.0}, {"COP_RE", 4.0}, {"EF_elec", 0.5}}).value() == Approx(750));
}

TEST_CASE("formula: unit mismatches and bad expressions are config errors naming the formula", "[formula]") {
  std::map<std::string, Unit> params{{"EG_p", unit("MWh")}, {"EF_grid", unit("tCO2/MWh")}, {"P", unit("kW")}};
  auto wrong_unit = Formula::compile("EG_p * EF_grid", params, unit("MWh"));
  REQUIRE_FALSE(wrong_unit);
  CHECK(wrong_unit.error().where == "formula 'EG_p * EF_grid'");
  CHECK(wrong_unit.error().message == "unit mismatch: it gives CO2, not energy (MWh) as declared");
  for (const char* mixed : {"EG_p + EF_grid", "EG_p + P", "exp(EG_p) * EF_grid", "EG_p * EF_grid + 1"}) {
    INFO(mixed);
    auto r = Formula::compile(mixed, params, unit("tCO2"));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("unlike units"));
  }
  CHECK_FALSE(Formula::compile("EG_p * (EF_grid", params, unit("tCO2")));
  auto unknown = Formula::compile("EG_p * EF_xx", params, unit("tCO2"));
  REQUIRE_FALSE(unknown);
  CHECK_THAT(unknown.error().message, Catch::Contains("EF_xx"));
  auto ok = Formula::compile("EG_p * EF_grid", params, unit("tCO2"));
  REQUIRE(ok);
  CHECK_FALSE(ok->evaluate({{"EG_p", 1}}));  // EF_grid has no value
  CHECK_FALSE(Formula::compile("EG_p / (EG_p - EG_p) * EF_grid", params, unit("tCO2")));  // not finite
}
