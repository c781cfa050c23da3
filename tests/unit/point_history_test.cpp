#include <catch2/catch.hpp>

#include <cmath>
#include <thread>

#include "mrv/core/config.hpp"
#include "point_history.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {

constexpr int64_t kDay = 86'400'000;
constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

Config two_point_config() {
  Config c;
  c.points.resize(2);
  c.points[0].id = "m1.energy_kwh";
  c.points[0].unit = "kWh";
  c.points[1].id = "m2.power_kw";
  c.points[1].unit = "kW";
  c.mqtt_sources.resize(1);
  c.mqtt_sources[0].name = "broker";
  c.modbus_gateways.resize(1);
  c.modbus_gateways[0].name = "gw";
  return c;
}

AcceptedReading reading(std::string point, std::string value, int64_t ts_ms, std::string source,
                        int64_t received_ms = 0) {
  AcceptedReading a;
  a.reading.point_id = std::move(point);
  a.reading.value = std::move(value);
  a.reading.unit = "kWh";
  a.reading.ts_ms = ts_ms;
  a.reading.source = std::move(source);
  if (a.reading.value.empty()) {
    a.reading.quality = Quality::bad;
    a.reading.reason = "timeout";
  }
  a.received.utc_ms = received_ms ? received_ms : ts_ms;
  return a;
}

const PointHistory::PointView& point(const PointHistory::Snapshot& s, const std::string& id) {
  for (const auto& p : s.points)
    if (p.id == id) return p;
  FAIL("no point " << id);
  throw;
}

}  // namespace

TEST_CASE("history: a source field names its configured source", "[http]") {
  CHECK(source_label("mqtt:broker:site/m1/energy") == "mqtt:broker");
  CHECK(source_label("modbus:gw/unit1/holding/40") == "modbus:gw");
  CHECK(source_label("sim:demo/m1.energy_kwh") == "sim:demo");
  CHECK(source_label("plain") == "plain");
}

TEST_CASE("history: configured points are known before any reading, in config order", "[http]") {
  PointHistory h(two_point_config(), 0);
  auto s = h.snapshot(true, kT0);
  REQUIRE(s.points.size() == 2);
  CHECK(s.points[0].id == "m1.energy_kwh");
  CHECK(s.points[1].unit == "kW");
  CHECK(s.points[0].value.empty());
  CHECK(s.points[0].history.empty());
  CHECK(s.sources.size() == 2);  // mqtt:broker, modbus:gw
}

TEST_CASE("history: readings and gap records are counted per point and source", "[http]") {
  PointHistory h(two_point_config(), 0);
  std::vector<AcceptedReading> batch{reading("m1.energy_kwh", "1.5", kT0, "mqtt:broker:site/m1/energy"),
                                     reading("m1.energy_kwh", "2.5", kT0 + 1000, "mqtt:broker:site/m1/energy"),
                                     reading("m2.power_kw", "", kT0 + 1000, "modbus:gw/unit1/holding/0"),
                                     reading("m2.power_kw", "7", kT0 + 2000, "modbus:gw/unit1/holding/0")};
  h.observe(batch);
  auto s = h.snapshot(false, kT0 + 3000);
  const auto& m1 = point(s, "m1.energy_kwh");
  CHECK(m1.value == "2.5");
  CHECK(m1.ts_ms == kT0 + 1000);
  CHECK(m1.readings == 2);
  CHECK(m1.source == "mqtt:broker");
  const auto& m2 = point(s, "m2.power_kw");
  CHECK(m2.readings == 1);
  CHECK(m2.gaps == 1);
  CHECK(m2.gaps_today == 1);
  CHECK(m2.gap_reason == "timeout");
  REQUIRE(s.counts.size() == 2);
  CHECK(s.counts[0].point == "m1.energy_kwh");
  CHECK(s.counts[0].source == "mqtt:broker");
  CHECK(s.counts[0].readings == 2);
  CHECK(s.counts[1].gaps == 1);
  for (const auto& src : s.sources)
    if (src.label == "modbus:gw") {
      CHECK(src.readings == 1);
      CHECK(src.gaps_today == 1);
      CHECK(src.last_reading_received_ms == kT0 + 2000);
    }
}

TEST_CASE("history: one point from two sources is counted under each", "[http]") {
  PointHistory h(two_point_config(), 0);
  std::vector<AcceptedReading> batch{reading("m1.energy_kwh", "1", kT0, "mqtt:broker:a"),
                                     reading("m1.energy_kwh", "2", kT0 + 1, "modbus:gw/unit1/x"),
                                     reading("m1.energy_kwh", "3", kT0 + 2, "mqtt:broker:a")};
  h.observe(batch);
  auto s = h.snapshot(false, kT0);
  REQUIRE(s.counts.size() == 2);
  CHECK(s.counts[0].readings == 2);
  CHECK(s.counts[1].source == "modbus:gw");
  CHECK(s.counts[1].readings == 1);
}

TEST_CASE("history: a late, older reading does not replace the last value", "[http]") {
  PointHistory h(two_point_config(), 0);
  std::vector<AcceptedReading> batch{reading("m1.energy_kwh", "9", kT0 + 5000, "mqtt:broker:a"),
                                     reading("m1.energy_kwh", "1", kT0, "mqtt:broker:a")};
  h.observe(batch);
  auto s = h.snapshot(true, kT0);
  CHECK(point(s, "m1.energy_kwh").value == "9");
  CHECK(point(s, "m1.energy_kwh").readings == 2);
  auto history = point(s, "m1.energy_kwh").history;
  REQUIRE(history.size() == 2);
  CHECK(history[0].ts_ms == kT0);  // oldest first, by reading time
}

TEST_CASE("history: gaps today start again at 00:00 UTC", "[http]") {
  PointHistory h(two_point_config(), 0);
  std::vector<AcceptedReading> yesterday{reading("m2.power_kw", "", kT0 - 1000, "modbus:gw/u", kT0 - 1000),
                                         reading("m2.power_kw", "", kT0 - 500, "modbus:gw/u", kT0 - 500)};
  h.observe(yesterday);
  CHECK(point(h.snapshot(false, kT0 - 1), "m2.power_kw").gaps_today == 2);
  CHECK(point(h.snapshot(false, kT0 + 1), "m2.power_kw").gaps_today == 0);  // a new day, nothing yet
  std::vector<AcceptedReading> today{reading("m2.power_kw", "", kT0 + 10, "modbus:gw/u", kT0 + 10)};
  h.observe(today);
  auto s = h.snapshot(false, kT0 + kDay / 2);
  CHECK(point(s, "m2.power_kw").gaps_today == 1);
  CHECK(point(s, "m2.power_kw").gaps == 3);
}

TEST_CASE("history: the sparkline keeps the last 60 steps, the latest value of each", "[http]") {
  PointHistory h(two_point_config(), 1000);  // one sample per second
  std::vector<AcceptedReading> batch;
  for (int i = 0; i < 500; ++i)  // two readings a second for 250 s
    batch.push_back(reading("m1.energy_kwh", std::to_string(i), kT0 + i * 500, "mqtt:broker:a"));
  h.observe(batch);
  auto history = point(h.snapshot(true, kT0), "m1.energy_kwh").history;
  REQUIRE(history.size() == PointHistory::kSamples);
  CHECK(history.back().value == 499);
  CHECK(history.back().ts_ms == kT0 + 499 * 500);
  CHECK(history.front().value == 499 - 2 * 59);  // 60 one-second steps, the later reading of each
  for (size_t i = 1; i < history.size(); ++i) CHECK(history[i].ts_ms - history[i - 1].ts_ms == 1000);
}

TEST_CASE("history: a gap record is a break in the sparkline", "[http]") {
  PointHistory h(two_point_config(), 0);
  std::vector<AcceptedReading> batch{reading("m1.energy_kwh", "1", kT0, "modbus:gw/u"),
                                     reading("m1.energy_kwh", "", kT0 + 1, "modbus:gw/u"),
                                     reading("m1.energy_kwh", "not-a-number-but-stored", kT0 + 2, "modbus:gw/u")};
  h.observe(batch);
  auto history = point(h.snapshot(true, kT0), "m1.energy_kwh").history;
  REQUIRE(history.size() == 3);
  CHECK(history[0].value == 1);
  CHECK(std::isnan(history[1].value));
  CHECK(std::isnan(history[2].value));
}

TEST_CASE("history: a point not in the config is added when it first appears", "[http]") {
  PointHistory h(two_point_config(), 0);
  std::vector<AcceptedReading> batch{reading("new.point", "4", kT0, "sim:demo/new.point")};
  h.observe(batch);
  auto s = h.snapshot(false, kT0);
  REQUIRE(s.points.size() == 3);
  CHECK(s.points[2].id == "new.point");
  CHECK(s.points[2].source == "sim:demo");
}

TEST_CASE("history: observing on one thread while another takes snapshots loses no count", "[http]") {
  PointHistory h(two_point_config(), 1000);
  constexpr int kBatches = 2000;
  std::thread writer([&] {
    std::vector<AcceptedReading> batch{reading("m1.energy_kwh", "1", 0, "mqtt:broker:a"),
                                       reading("m2.power_kw", "", 0, "modbus:gw/u")};
    for (int i = 0; i < kBatches; ++i) {
      batch[0].reading.ts_ms = batch[1].reading.ts_ms = kT0 + i * 100;
      h.observe(batch);
    }
  });
  size_t snapshots = 0;
  for (;;) {
    auto s = h.snapshot(true, kT0);
    ++snapshots;
    for (const auto& p : s.points) CHECK(p.history.size() <= PointHistory::kSamples);
    if (point(s, "m1.energy_kwh").readings == kBatches) break;
  }
  writer.join();
  auto s = h.snapshot(false, kT0);
  CHECK(point(s, "m1.energy_kwh").readings == kBatches);
  CHECK(point(s, "m2.power_kw").gaps == kBatches);
  CHECK(snapshots >= 1);
}
