#include <catch2/catch.hpp>

#include "mrv/collector/simulated_source.hpp"
#include "test_support.hpp"

using namespace mrv;

TEST_CASE("simulated: a cumulative register only grows and is exact decimal text", "[simulated]") {
  std::string prev = collector::simulated_value(PointKind::cumulative, 1795600000000);
  for (int64_t t = 1795600000000; t < 1795600000000 + 3'600'000; t += 7'000) {
    std::string v = collector::simulated_value(PointKind::cumulative, t);
    CHECK(is_decimal_text(v));
    CHECK(std::stod(v) >= std::stod(prev));
    prev = v;
  }
  std::string power = collector::simulated_value(PointKind::gauge, 1795600000000);
  CHECK(std::stod(power) >= 25.0);
  CHECK(std::stod(power) <= 75.0);
}

TEST_CASE("simulated: a running source journals a reading per point per interval", "[simulated]") {
  test::TempDir dir;
  SystemClock clock;
  auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE(j);
  JournalWriter w(std::move(*j), WriterOptions{std::chrono::milliseconds(5)}, clock,
                  [](int, const std::string&) {});
  boost::asio::io_context io;
  PointConfig energy{"m1.energy_kwh", "kWh", PointKind::cumulative, "S1", "0.5S", "", 0, {}};
  PointConfig power{"m1.power_kw", "kW", PointKind::gauge, "S1", "0.5S", "", 0, {}};
  collector::SimulatedSource src(io, SimulatedSourceConfig{"sim", 20, {}}, {energy, power}, w);
  src.start();
  io.run_for(std::chrono::milliseconds(210));
  src.stop();
  w.stop();
  CHECK(src.stats().readings >= 16);
  CHECK(src.stats().readings % 2 == 0);
  CHECK(w.stats().stored == src.stats().readings);
}
