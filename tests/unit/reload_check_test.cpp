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
