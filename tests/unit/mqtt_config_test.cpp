#include <catch2/catch.hpp>

#include "mrv/core/config.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {
std::string site(const std::string& mqtt) {
  return "[site]\nid = \"s1\"\n[journal]\npath = \"j.db\"\n[signing]\nkey_file = \"k\"\n"
         "[[points]]\nid = \"m1.energy_kwh\"\nunit = \"kWh\"\n" + mqtt;
}
}  // namespace

TEST_CASE("config: an MQTT source with subscriptions parses into typed values", "[config][mqtt]") {
  auto c = parse_config(site(R"(
[[sources.mqtt]]
name = "b1"
url = "tcp://127.0.0.1:1883"
mqtt_version = 5
password_env = "MQTT_PASSWORD"
[[sources.mqtt.subscriptions]]
topic = "site/{meter}/energy"
point = "{meter}.energy_kwh"
format = "json"
value = "/data/v"
timestamp = "/data/t"
timestamp_format = "epoch_ms"
qos = 2
[[sources.mqtt.subscriptions]]
topic = "senml/{gw}/#"
point = "{gw}.{n}"
format = "senml"
)"), "/cfg/site.toml");
  REQUIRE(c);
  REQUIRE(c->mqtt_sources.size() == 1);
  const auto& m = c->mqtt_sources[0];
  CHECK(m.client_id == "mrv-agent-s1-b1");  // stable default: the broker keeps the session
  CHECK(m.mqtt_version == 5);
  CHECK(m.password_env == "MQTT_PASSWORD");
  REQUIRE(m.subscriptions.size() == 2);
  CHECK(m.subscriptions[0].format == PayloadFormat::json);
  CHECK(m.subscriptions[0].json.value == "/data/v");
  CHECK(m.subscriptions[0].timestamp_format == TimestampFormat::epoch_ms);
  CHECK(m.subscriptions[0].qos == 2);
  CHECK(m.subscriptions[1].format == PayloadFormat::senml);
}

TEST_CASE("config: MQTT mistakes are reported with file:line and key path", "[config][mqtt]") {
  auto e = test::config_errors(site(R"(
[[sources.mqtt]]
name = "b1"
url = "http://broker"
ca_file = "/nonexistent/ca.pem"
[[sources.mqtt.subscriptions]]
topic = "site/#/energy"
point = "{meter}.kwh"
value = "data/v"
)"));
  auto has = [&](const std::string& s) {
    return std::any_of(e.begin(), e.end(), [&](const std::string& x) { return x.find(s) != std::string::npos; });
  };
  INFO(e.size());
  CHECK(has("site.toml:13: sources.mqtt[0].url: must start with tcp:// or ssl://"));
  CHECK(has("site.toml:14: sources.mqtt[0].ca_file: cannot read /nonexistent/ca.pem"));
  CHECK(has("site.toml:16: sources.mqtt[0].subscriptions[0].topic: level '#': + and {name} take a whole level, # only the last"));
  CHECK(has("site.toml:18: sources.mqtt[0].subscriptions[0].value: must be a JSON Pointer"));
  auto missing = test::config_errors(site("[[sources.mqtt]]\nname = \"b\"\nurl = \"tcp://h:1\"\n"));
  CHECK(std::any_of(missing.begin(), missing.end(), [](const std::string& x) {
    return x.find("at least one [[sources.mqtt.subscriptions]] entry is required") != std::string::npos;
  }));
  auto uncaptured = test::config_errors(site(R"(
[[sources.mqtt]]
name = "b"
url = "tcp://h:1"
[[sources.mqtt.subscriptions]]
topic = "site/{meter}/energy"
point = "{line}.kwh"
)"));
  REQUIRE(uncaptured.size() == 1);
  CHECK(uncaptured[0].find("uses {line}, which the topic does not capture") != std::string::npos);
}
