#include <catch2/catch.hpp>

#include "mrv/report/gauge.hpp"

using namespace mrv;
using namespace mrv::report;

namespace {
constexpr int64_t kMin = 60'000, kHour = 60 * kMin, kDay = 24 * kHour;

// A reading every minute of [0, 1 day), value(t), skipping [skip_from, skip_to).
GaugeSummary day(GapRule rule, double substitute, double (*value)(int64_t), int64_t skip_from = 0, int64_t skip_to = 0) {
  GaugeAggregator g(0, kDay, 5 * kMin, rule, substitute);
  for (int64_t t = 0; t < kDay; t += kMin)
    if (t < skip_from || t >= skip_to) g.push({static_cast<uint64_t>(t / kMin + 1), t, value(t)});
  return g.finish();
}
double ten(int64_t) { return 10.0; }
double ramp(int64_t t) { return static_cast<double>(t) / kHour; }  // 0 .. 24 over the day
}  // namespace

TEST_CASE("gauge: a steady 10 kW over a day integrates to 240 kWh", "[report][gauge]") {
  auto s = day(GapRule::zero, 0, ten);
  CHECK(s.integral == Approx(240.0));
  CHECK(s.mean.value() == Approx(10.0));
  CHECK(s.covered_h == Approx(24.0));
  CHECK(s.gaps.empty());
  CHECK(s.readings == 1440);
}

TEST_CASE("gauge: a linear ramp integrates exactly, min and max are the readings'", "[report][gauge]") {
  auto s = day(GapRule::zero, 0, ramp);
  // 0..23.983 by trapezoids, then the last value held for its minute.
  double last = 23.0 + 59.0 / 60.0;
  CHECK(s.integral == Approx(last * last / 2 + last / 60.0));
  CHECK(s.min.value() == 0.0);
  CHECK(s.max.value() == Approx(last));
}

TEST_CASE("gauge: a 3-hour gap counts as its rule says, and is listed", "[report][gauge]") {
  auto zero = day(GapRule::zero, 0, ten, 6 * kHour, 9 * kHour);
  REQUIRE(zero.gaps.size() == 1);
  CHECK(zero.gaps[0].from_ms == 6 * kHour - kMin);  // from the last reading before it
  CHECK(zero.gaps[0].to_ms == 9 * kHour);
  CHECK(zero.integral == Approx(240.0 - 10.0 * (3.0 + 1.0 / 60)));
  CHECK(zero.mean.value() == Approx(10.0));  // over the covered time
  auto substitute = day(GapRule::substitute, 4.0, ten, 6 * kHour, 9 * kHour);
  CHECK(substitute.integral == Approx(240.0 - 6.0 * (3.0 + 1.0 / 60)));
  CHECK(substitute.gaps[0].counted == Approx(4.0 * (3.0 + 1.0 / 60)));
}

TEST_CASE("gauge: no reading at all is one gap over the period; readings outside it are ignored", "[report][gauge]") {
  GaugeAggregator g(kDay, 2 * kDay, 5 * kMin, GapRule::substitute, 1.0);
  g.push({1, kDay - kMin, 50.0});
  g.push({2, 2 * kDay, 50.0});
  auto s = g.finish();
  CHECK(s.readings == 0);
  CHECK(s.integral == Approx(24.0));
  REQUIRE(s.gaps.size() == 1);
  CHECK_FALSE(s.mean);
  CHECK_FALSE(s.max);
}
