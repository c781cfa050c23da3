#include <catch2/catch.hpp>

#include "mrv/report/spreadsheet_formula.hpp"

using mrv::report::to_spreadsheet_formula;

namespace {
std::optional<std::string> cells(const std::string& id) {
  if (id == "EG_p") return "$G$5";
  if (id == "EF_grid") return "$G$6";
  if (id == "RE_p") return "($D$10*$F$10)";
  return std::nullopt;
}
std::string sheet(const std::string& expression) {
  auto f = to_spreadsheet_formula(expression, cells);
  REQUIRE(f);
  return *f;
}
}  // namespace

TEST_CASE("spreadsheet formula: ids become cells, every operation parenthesised as muparser groups it", "[report][xlsx]") {
  CHECK(sheet("EG_p * EF_grid") == "=($G$5*$G$6)");
  CHECK(sheet("RE_p - 0") == "=(($D$10*$F$10)-0)");
  CHECK(sheet("EG_p * (EF_grid / 2) * 1e-3") == "=(($G$5*($G$6/2))*1e-3)");
  // muparser binds unary minus looser than ^ (-2^2 = -4); a spreadsheet tighter: parenthesised.
  CHECK(sheet("-EG_p^2") == "=(-($G$5^2))");
  CHECK(sheet("2^3^2") == "=(2^(3^2))");
  CHECK(sheet("min(EG_p, EF_grid, 3)") == "=MIN($G$5,$G$6,3)");
  CHECK(sheet("avg(EG_p, 1) + abs(-EF_grid)") == "=(AVERAGE($G$5,1)+ABS((-$G$6)))");
  CHECK(sheet("EG_p > 0 ? EG_p * EF_grid : 0") == "=IF(($G$5>0),($G$5*$G$6),0)");
  CHECK(sheet("EG_p >= 1 && EF_grid != 0 || EG_p == 2") == "=OR(AND(($G$5>=1),($G$6<>0)),($G$5=2))");
}

TEST_CASE("spreadsheet formula: what has no exact twin is refused, naming it", "[report][xlsx]") {
  auto unknown = to_spreadsheet_formula("EG_p * X", cells);
  REQUIRE(!unknown);
  CHECK_THAT(unknown.error().message, Catch::Contains("unknown name 'X'"));
  auto rint = to_spreadsheet_formula("rint(EG_p)", cells);
  REQUIRE(!rint);
  CHECK_THAT(rint.error().message, Catch::Contains("'rint'"));
  CHECK(!to_spreadsheet_formula("log(EG_p)", cells));
  CHECK(!to_spreadsheet_formula("(EG_p", cells));
  CHECK(!to_spreadsheet_formula("EG_p ? 1", cells));
  CHECK(!to_spreadsheet_formula("EG_p $ 2", cells));
  CHECK(!to_spreadsheet_formula("", cells));
}
