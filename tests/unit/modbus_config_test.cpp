#include <catch2/catch.hpp>

#include "mrv/core/config.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {
std::string site(const std::string& modbus) {
  return "[site]\nid = \"s1\"\n[journal]\npath = \"j.db\"\n[signing]\nkey_file = \"k\"\n"
         "[[points]]\nid = \"m3.energy_kwh\"\nunit = \"kWh\"\nkind = \"cumulative\"\n"
         "[[points]]\nid = \"m3.breaker\"\nunit = \"state\"\n" + modbus;
}
}  // namespace

TEST_CASE("config: Modbus gateways, devices and registers parse into typed values", "[config][modbus]") {
  auto c = parse_config(site(R"(
[[sources.modbus]]
name = "gw1"
host = "10.0.0.5"
timeout_ms = 500
max_gap = 4
[[sources.modbus.devices]]
name = "meter3"
unit = 3
interval_ms = 1000
[[sources.modbus.devices.registers]]
point = "m3.energy_kwh"
table = "input"
address = 100
type = "u32"
order = "CDAB"
scale = 0.01
[[sources.modbus.devices.registers]]
point = "m3.breaker"
table = "coil"
address = 7
[[sources.modbus]]
name = "line1"
transport = "rtu"
serial_device = "/dev/ttyUSB0"
baud = 19200
parity = "E"
[[sources.modbus.devices]]
name = "meter9"
unit = 9
[[sources.modbus.devices.registers]]
point = "m3.energy_kwh"
address = 0
type = "f64"
)"), "/cfg/site.toml");
  REQUIRE(c);
  REQUIRE(c->modbus_gateways.size() == 2);
  const auto& gw = c->modbus_gateways[0];
  CHECK(gw.transport == ModbusTransport::tcp);
  CHECK(gw.port == 502);
  CHECK(gw.timeout_ms == 500);
  const auto& r = gw.devices.at(0).registers;
  REQUIRE(r.size() == 2);
  CHECK(r[0].table == ModbusTable::input_registers);
  CHECK(r[0].type == ModbusValueType::u32);
  CHECK(r[0].order == ModbusWordOrder::cdab);
  CHECK(r[0].scale == 0.01);
  CHECK(r[1].type == ModbusValueType::boolean);  // the default for coils
  const auto& line = c->modbus_gateways[1];
  CHECK(line.transport == ModbusTransport::rtu_serial);
  CHECK(line.baud == 19200);
  CHECK(line.parity == 'E');
}

TEST_CASE("config: Modbus mistakes name file:line and key path", "[config][modbus]") {
  auto e = test::config_errors(site(R"(
[[sources.modbus]]
name = "gw1"
host = "h"
[[sources.modbus.devices]]
name = "d"
unit = 300
[[sources.modbus.devices.registers]]
point = "nope"
address = 65535
type = "u32"
order = "ABDC"
[[sources.modbus.devices.registers]]
point = "m3.breaker"
table = "coil"
address = 1
type = "f32"
)"));
  auto has = [&](const std::string& s) {
    return std::any_of(e.begin(), e.end(), [&](const std::string& x) { return x.find(s) != std::string::npos; });
  };
  CHECK(has("site.toml:20: sources.modbus[0].devices[0].unit: must be between 0 and 247"));
  CHECK(has("site.toml:22: sources.modbus[0].devices[0].registers[0].point: no [[points]] entry with id 'nope'"));
  CHECK(has("site.toml:23: sources.modbus[0].devices[0].registers[0].address: the value runs past register 65535"));
  CHECK(has("site.toml:25: sources.modbus[0].devices[0].registers[0].order: must be one of: ABCD, CDAB, BADC, DCBA"));
  CHECK(has("site.toml:30: sources.modbus[0].devices[0].registers[1].type: coils and discrete inputs are bool"));
}
