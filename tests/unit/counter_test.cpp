#include <catch2/catch.hpp>

#include "mrv/report/counter.hpp"

using namespace mrv::report;

namespace {
CounterReading at(uint64_t seq, double value, const std::string& serial = "S1") {
  return CounterReading{seq, static_cast<int64_t>(seq) * 60'000, value, serial};
}
}  // namespace

TEST_CASE("counter: end minus start, and a lost reading in between loses nothing", "[report][counter]") {
  CounterAggregator c;
  // The worked solar example: 1,234.567 MWh -> 4,456.789 MWh, with gaps between.
  for (auto r : {at(1, 1234.567), at(2, 1300.0), at(50, 4000.0), at(51, 4456.789)}) c.push(r);
  CHECK(c.result().total == Approx(3222.222));
  CHECK(c.result().events.empty());
  REQUIRE(c.result().segments.size() == 1);
  CHECK(c.result().segments[0].counted == Approx(3222.222));
}

TEST_CASE("counter: a rollover near the register's maximum is counted across the wrap", "[report][counter]") {
  CounterAggregator c(99'999.9);
  for (auto r : {at(1, 99'000.0), at(2, 99'990.0), at(3, 40.0), at(4, 100.0)}) c.push(r);
  CHECK(c.result().total == Approx(990.0 + 9.9 + 40.0 + 60.0));
  REQUIRE(c.result().events.size() == 1);
  CHECK(c.result().events[0].kind == CounterBreak::rollover);
  CHECK(c.result().events[0].before.seq == 2);
  CHECK(c.result().segments.size() == 1);
}

TEST_CASE("counter: a fall that is not a wrap is a reset: a new segment, nothing guessed", "[report][counter]") {
  CounterAggregator c(99'999.9);
  for (auto r : {at(1, 500.0), at(2, 700.0), at(3, 5.0), at(4, 25.0)}) c.push(r);
  CHECK(c.result().total == Approx(200.0 + 20.0));  // the 5 counted before seq 3 is not credited
  REQUIRE(c.result().events.size() == 1);
  CHECK(c.result().events[0].kind == CounterBreak::reset);
  REQUIRE(c.result().segments.size() == 2);
  CHECK(c.result().segments[1].first.seq == 3);
  // A fall from near the maximum to mid-range is no wrap either (a bad reading, a swapped
  // register): crediting a whole wrap for it would over-credit.
  CounterAggregator glitch(99'999.9);
  for (auto r : {at(1, 99'000.0), at(2, 99'990.0), at(3, 50'000.0)}) glitch.push(r);
  CHECK(glitch.result().events.at(0).kind == CounterBreak::reset);
  CHECK(glitch.result().total == Approx(990.0));
  CounterAggregator no_max;  // without a configured maximum every fall is a reset
  for (auto r : {at(1, 99'990.0), at(2, 10.0)}) no_max.push(r);
  CHECK(no_max.result().events.at(0).kind == CounterBreak::reset);
}

TEST_CASE("counter: a meter exchange (new serial) starts a segment at the new meter's register", "[report][counter]") {
  CounterAggregator c;
  for (auto r : {at(1, 1000.0, "OLD"), at(2, 1100.0, "OLD"), at(3, 3.0, "NEW"), at(4, 53.0, "NEW")}) c.push(r);
  CHECK(c.result().total == Approx(100.0 + 50.0));
  REQUIRE(c.result().events.size() == 1);
  CHECK(c.result().events[0].kind == CounterBreak::exchange);
  CHECK(c.result().events[0].after.meter_serial == "NEW");
  REQUIRE(c.result().segments.size() == 2);
  CHECK(c.result().segments[0].counted == Approx(100.0));
  CHECK(c.result().segments[1].counted == Approx(50.0));
}
