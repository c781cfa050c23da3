#include <catch2/catch.hpp>

#include "reload_check.hpp"

using namespace mrv;

TEST_CASE("reload: sources and points change in place; site, journal and key need a restart", "[reload]") {
  Config running;
  running.site_id = "s";
  running.journal.path = "/var/lib/mrv-agent/journal.db";
  running.signing.key_file = "/etc/mrv-agent/agent.key";
  Config fresh = running;
  fresh.points.push_back({"m9.energy_kwh", "kWh", PointKind::cumulative, "S9", "1", "", 0, {}});
  fresh.mqtt_sources.push_back({});
  fresh.upload.url = "https://registry.example:8443";
  CHECK_FALSE(agent::needs_restart(running, fresh));
  auto changed = [&](auto edit) {
    Config c = running;
    edit(c);
    return agent::needs_restart(running, c).value_or("");
  };
  CHECK(changed([](Config& c) { c.site_id = "t"; }) == "[site] id");
  CHECK(changed([](Config& c) { c.journal.path = "/tmp/j.db"; }) == "[journal] path");
  CHECK(changed([](Config& c) { c.journal.quota_bytes = 1; }) == "[journal] settings");
  CHECK(changed([](Config& c) { c.signing.key_file = "/other.key"; }) == "[signing]");
  CHECK(changed([](Config& c) { c.signing.checkpoint_only = true; }) == "[signing]");
}

namespace {
Config with_mqtt_source() {
  Config c;
  c.site_id = "s";
  MqttSourceConfig m;
  m.name = "site-broker";
  m.url = "tcp://broker:1883";
  m.client_id = "mrv-agent-s-site-broker";
  MqttSubscriptionConfig sub;
  sub.topic = "site/{meter}/energy";
  sub.point = "{meter}.energy_kwh";
  m.subscriptions.push_back(sub);
  c.mqtt_sources.push_back(m);
  return c;
}
}  // namespace

TEST_CASE("reload: an MQTT source keeps its connection when only its subscriptions or backoff change",
          "[reload]") {
  const MqttSourceConfig running = with_mqtt_source().mqtt_sources[0];
  auto fresh = running;
  fresh.subscriptions[0].point = "{meter}.export_kwh";
  fresh.subscriptions.push_back({});
  fresh.reconnect_max_ms = 5000;
  CHECK(agent::same_mqtt_connection(running, fresh));
  auto changed = [&](auto edit) {
    MqttSourceConfig c = running;
    edit(c);
    return agent::same_mqtt_connection(running, c);
  };
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.name = "other"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.url = "ssl://broker:8883"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.client_id = "other"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.mqtt_version = 5; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.keepalive_s = 10; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.session_expiry_s = 60; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.username = "u"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.password_file = "/run/secret"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.password_env = "PW"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.ca_file = "/ca.pem"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.cert_file = "/cert.pem"; }));
  CHECK_FALSE(changed([](MqttSourceConfig& c) { c.key_file = "/key.pem"; }));
}

TEST_CASE("reload: a source resuming its broker session with a new connection keeps its subscriptions",
          "[reload]") {
  const Config running = with_mqtt_source();
  auto reload_to = [&](auto edit) {
    Config c = running;
    edit(c.mqtt_sources[0]);
    return agent::needs_two_reloads(running, c).value_or("");
  };
  // One change at a time is fine.
  CHECK(reload_to([](MqttSourceConfig& m) { m.keepalive_s = 10; }).empty());
  CHECK(reload_to([](MqttSourceConfig& m) { m.subscriptions[0].point = "{meter}.export_kwh"; }).empty());
  // Both at once, on the same session: what the broker redelivers would map elsewhere.
  CHECK(reload_to([](MqttSourceConfig& m) {
          m.keepalive_s = 10;
          m.subscriptions[0].point = "{meter}.export_kwh";
        }) == "[sources.mqtt] site-broker");
  CHECK(reload_to([](MqttSourceConfig& m) {
          m.password_env = "PW";
          m.subscriptions[0].json.value = "/v";
        }) == "[sources.mqtt] site-broker");
  // Another session (client id or broker) starts afresh: nothing comes back to it.
  CHECK(reload_to([](MqttSourceConfig& m) {
          m.client_id = "other";
          m.subscriptions[0].point = "{meter}.export_kwh";
        }).empty());
  CHECK(reload_to([](MqttSourceConfig& m) {
          m.url = "tcp://other:1883";
          m.subscriptions[0].point = "{meter}.export_kwh";
        }).empty());
}
