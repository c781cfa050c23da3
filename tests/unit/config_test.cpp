#include <catch2/catch.hpp>

#include "mrv/core/config.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {
const char* kValid = R"(
[site]
id = "s1"
[journal]
path = "state/j.db"
quota_mb = 10
[signing]
key_file = "/etc/mrv/agent.key"
[[points]]
id = "m1.energy_kwh"
unit = "kWh"
kind = "cumulative"
calibration_valid_until = 2027-01-31
[[sources.simulated]]
name = "sim"
points = ["m1.energy_kwh"]
)";

}  // namespace

TEST_CASE("config: a valid file gives typed values and resolves relative paths", "[config]") {
  auto c = parse_config(kValid, "/cfg/site.toml");
  REQUIRE(c);
  CHECK(c->site_id == "s1");
  CHECK(c->journal.path == "/cfg/state/j.db");
  CHECK(c->signing.key_file == "/etc/mrv/agent.key");
  CHECK(c->journal.quota_bytes == 10u << 20);
  CHECK(c->journal.commit_interval_ms == 50);
  REQUIRE(c->points.size() == 1);
  CHECK(c->points[0].kind == PointKind::cumulative);
  CHECK(c->points[0].calibration_valid_until == "2027-01-31");
  CHECK(c->simulated_sources.at(0).points.at(0) == "m1.energy_kwh");
  CHECK(c->hash_hex.size() == 64);
}

TEST_CASE("config: a syntax error names file, line and column", "[config]") {
  auto e = test::config_errors("[site]\nid = \"s1\"\nbroken = \n");
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("/cfg/site.toml:3:", 0) == 0);
}

TEST_CASE("config: every error is reported, each with file:line and key path", "[config]") {
  std::string text = kValid;
  text += "[[points]]\nid = \"m1.energy_kwh\"\nunit = 5\nkind = \"meter\"\ncolour = \"red\"\n";
  auto e = test::config_errors(text);
  REQUIRE(e.size() == 4);
  CHECK(e[0] == "/cfg/site.toml:21: points[1].colour: unknown key");
  CHECK(e[1] == "/cfg/site.toml:18: points[1].id: duplicate point id 'm1.energy_kwh'");
  CHECK(e[2] == "/cfg/site.toml:19: points[1].unit: must be a string");
  CHECK(e[3] == "/cfg/site.toml:20: points[1].kind: must be one of: cumulative, gauge");
}

TEST_CASE("config: missing sections, bad ranges and dangling point references are errors", "[config]") {
  auto e = test::config_errors(R"(
[journal]
commit_interval_ms = 0
synchronous = "sometimes"
[[sources.simulated]]
name = "sim"
points = ["nope"]
)");
  auto has = [&](const std::string& s) {
    return std::any_of(e.begin(), e.end(), [&](const std::string& x) { return x.find(s) != std::string::npos; });
  };
  CHECK(has("site: missing required table"));
  CHECK(has("signing: missing required table"));
  CHECK(has(":3: journal.commit_interval_ms: must be between 1 and 10000"));
  CHECK(has(":4: journal.synchronous: must be one of: full, normal"));
  CHECK(has("journal.path: missing required key"));
  CHECK(has("points: at least one [[points]] entry is required"));
  CHECK(has(":7: sources.simulated[0].points[0]: no [[points]] entry with id 'nope'"));
}

TEST_CASE("config: an unreadable file is an error naming it", "[config]") {
  auto c = load_config("/nonexistent/agent.toml");
  REQUIRE_FALSE(c);
  CHECK(c.error().at(0).to_string() == "/nonexistent/agent.toml: cannot read config file");
}

TEST_CASE("config: a config kept as a record loads without the files it names", "[config]") {
  const std::string text = R"(
[site]
id = "s"
[journal]
path = "j.db"
[signing]
key_file = "k.key"
[[points]]
id = "m1.energy_kwh"
unit = "kWh"
kind = "cumulative"
[[sources.mqtt]]
name = "b"
url = "ssl://broker:8883"
ca_file = "/nonexistent/ca.pem"
[[sources.mqtt.subscriptions]]
topic = "site/{m}/energy"
point = "{m}.energy_kwh"
)";
  auto running = mrv::parse_config(text, "/etc/mrv-agent/agent.toml");
  REQUIRE_FALSE(running);
  CHECK(running.error().front().to_string().find("cannot read /nonexistent/ca.pem") != std::string::npos);
  auto recorded = mrv::parse_config(text, "/etc/mrv-agent/agent.toml", false);
  CHECK(recorded);
}

TEST_CASE("config: the control socket is the journal path + .sock unless set, and must fit a Unix socket path",
          "[config][site-record]") {
  auto c = parse_config(kValid, "/cfg/site.toml");
  REQUIRE(c);
  CHECK(c->journal.control_socket == "/cfg/state/j.db.sock");
  std::string text = kValid;
  auto set = [&](const std::string& line) {
    std::string t = text;
    return t.insert(t.find("quota_mb"), line + "\n");
  };
  auto own = parse_config(set("control_socket = \"/run/mrv/entries.sock\""), "/cfg/site.toml");
  REQUIRE(own);
  CHECK(own->journal.control_socket == "/run/mrv/entries.sock");
  std::string at_limit = "/" + std::string(kMaxControlSocketPath - 1, 's');
  CHECK(parse_config(set("control_socket = \"" + at_limit + "\""), "/cfg/site.toml"));
  auto e = test::config_errors(set("control_socket = \"" + at_limit + "s\""));
  REQUIRE(e.size() == 1);
  CHECK(e[0].starts_with("/cfg/site.toml:6: journal.control_socket: '/sss"));
  CHECK(e[0].ends_with("is longer than a Unix socket path may be (107 bytes)"));
  // The default follows a long journal path: the error says how to fix it.
  std::string deep = text;
  deep.replace(deep.find("state/j.db"), 10, "/" + std::string(103, 'd') + "/j.db");
  auto d = test::config_errors(deep);
  REQUIRE(d.size() == 1);
  CHECK(d[0].find("journal.control_socket") != std::string::npos);
  CHECK(d[0].ends_with("set control_socket to a shorter path"));
}

TEST_CASE("config: [site] calibration_warning_days is 30 by default, 0 to 365, and an integer", "[config][calibration]") {
  auto with = [](const std::string& line) {
    std::string text = kValid;
    text.replace(text.find("id = \"s1\"\n"), 9, "id = \"s1\"\n" + line);
    return text;
  };
  auto c = parse_config(kValid, "/cfg/site.toml");
  REQUIRE(c);
  CHECK(c->calibration_warning_days == 30);
  for (int days : {0, 7, 365}) {
    auto d = parse_config(with("calibration_warning_days = " + std::to_string(days)), "/cfg/site.toml");
    REQUIRE(d);
    CHECK(d->calibration_warning_days == days);
  }
  CHECK(test::config_errors(with("calibration_warning_days = 366")) ==
        std::vector<std::string>{"/cfg/site.toml:4: site.calibration_warning_days: must be between 0 and 365"});
  CHECK(test::config_errors(with("calibration_warning_days = -1")) ==
        std::vector<std::string>{"/cfg/site.toml:4: site.calibration_warning_days: must be between 0 and 365"});
  CHECK(test::config_errors(with("calibration_warning_days = \"30\"")) ==
        std::vector<std::string>{"/cfg/site.toml:4: site.calibration_warning_days: must be an integer"});
  CHECK(test::config_errors(with("calibration_warning_days = 1.5")) ==
        std::vector<std::string>{"/cfg/site.toml:4: site.calibration_warning_days: must be an integer"});
}
