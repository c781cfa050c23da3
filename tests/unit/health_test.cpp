#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "health.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {

constexpr int64_t kNow = 1'767'225'600'000;

SourceState source(std::string label, std::string kind, std::string state, int64_t last_reading_ms) {
  SourceState s;
  s.label = std::move(label);
  s.kind = std::move(kind);
  s.state = std::move(state);
  s.last_reading_ms = last_reading_ms;
  s.stale_after_ms = 300'000;
  s.watched_since_ms = kNow - 3'600'000;
  return s;
}

// A healthy agent: journal accepting, an MQTT broker and a Modbus gateway connected
// and fresh, an uploader keeping up, the clock synchronised.
AgentStatus healthy() {
  AgentStatus s;
  s.now_ms = kNow;
  s.writer.accepting = true;
  s.sources.push_back(source("mqtt:broker", "mqtt", "connected", kNow - 1000));
  s.sources.push_back(source("modbus:gw", "modbus", "connected", kNow - 2000));
  UploadState u;
  u.status.url = "https://registry.example";
  u.lag_records = 10;
  u.lag_s = 5;
  s.upload = u;
  s.clock_synchronised = true;
  return s;
}

HealthPolicy policy() {
  HealthPolicy p;
  p.require_clock_sync = true;
  p.upload_lag_max_s = 3600;
  return p;
}

std::string only_reason(const AgentStatus& s, const HealthPolicy& p = policy()) {
  Health h = evaluate_health(s, p);
  CHECK_FALSE(h.ok);
  REQUIRE(h.reasons.size() == 1);
  return h.reasons[0];
}

}  // namespace

TEST_CASE("health: a healthy agent answers ok", "[http]") {
  Health h = evaluate_health(healthy(), policy());
  CHECK(h.ok);
  CHECK(h.reasons.empty());
  CHECK(health_text(h) == "ok\n");
  CHECK(nlohmann::json::parse(health_json(h))["status"] == "ok");
}

TEST_CASE("health: a journal that does not accept readings is a reason, with its error", "[http]") {
  AgentStatus s = healthy();
  s.writer.accepting = false;
  s.writer.last_error = "quota reached and no uploaded records left to prune";
  std::string r = only_reason(s);
  CHECK(r.rfind("journal: not accepting readings", 0) == 0);
  CHECK(r.find("quota reached") != std::string::npos);
}

TEST_CASE("health: a disconnected MQTT source is named, with how long and why", "[http]") {
  AgentStatus s = healthy();
  s.sources[0].state = "disconnected";
  s.sources[0].state_since_ms = kNow - 12'000;
  s.sources[0].last_error = "connection refused";
  CHECK(only_reason(s) == "mqtt:broker: disconnected for 12 s: connection refused");
}

TEST_CASE("health: a source with no reading for longer than its limit is stale", "[http]") {
  AgentStatus s = healthy();
  s.sources[1].last_reading_ms = kNow - 301'000;
  CHECK(only_reason(s) == "modbus:gw: no reading for 301 s (limit 300 s)");
  s.sources[1].last_reading_ms = kNow - 300'001;  // just over: never reads as the limit
  CHECK(only_reason(s) == "modbus:gw: no reading for 300.1 s (limit 300 s)");
}

TEST_CASE("health: a source with no reading yet counts from when it was first watched", "[http]") {
  AgentStatus s = healthy();
  s.sources[0].last_reading_ms = 0;
  s.sources[0].watched_since_ms = kNow - 10'000;  // started (or added by a reload) 10 s ago
  CHECK(evaluate_health(s, policy()).ok);
  s.sources[0].watched_since_ms = kNow - 400'000;
  CHECK(only_reason(s) == "mqtt:broker: no reading for 400 s (limit 300 s), none yet");
  s.sources[0].last_reading_ms = kNow - 500'000;  // a reading before a reload re-added it
  CHECK(only_reason(s) == "mqtt:broker: no reading for 400 s (limit 300 s)");
}

TEST_CASE("health: a Modbus gateway that is not connected is a reason", "[http]") {
  AgentStatus s = healthy();
  s.sources[1].state = "connecting";
  s.sources[1].last_error = "10.0.0.5:502: timed out";
  CHECK(only_reason(s) == "modbus:gw: connecting: 10.0.0.5:502: timed out");
}

TEST_CASE("health: an MQTT source paused by a full journal is a reason of its own", "[http]") {
  AgentStatus s = healthy();
  s.sources[0].state = "paused";
  CHECK(only_reason(s) == "mqtt:broker: paused");
}

TEST_CASE("health: a simulated source is up while it runs, and stale like the others", "[http]") {
  AgentStatus s = healthy();
  s.sources.push_back(source("sim:demo", "sim", "running", kNow - 1000));
  CHECK(evaluate_health(s, policy()).ok);
  s.sources.back().last_reading_ms = kNow - 900'000;
  CHECK(only_reason(s).rfind("sim:demo: no reading for 900 s", 0) == 0);
}

TEST_CASE("health: an upload lag over the limit is a reason; at the limit it is not", "[http]") {
  AgentStatus s = healthy();
  s.upload->lag_s = 3600;
  CHECK(evaluate_health(s, policy()).ok);
  s.upload->lag_s = 3601.5;
  s.upload->lag_records = 1234;
  s.upload->status.last_error = "POST https://registry.example: connection refused";
  CHECK(only_reason(s) ==
        "upload: 1234 record(s) not receipted, the oldest for 3601.5 s (limit 3600 s): POST https://registry.example: "
        "connection refused");
}

TEST_CASE("health: a stopped upload is a reason", "[http]") {
  AgentStatus s = healthy();
  s.upload->status.stopped = "409 conflict: forked history";
  CHECK(only_reason(s) == "upload: stopped: 409 conflict: forked history");
}

TEST_CASE("health: no uploader, no upload check", "[http]") {
  AgentStatus s = healthy();
  s.upload.reset();
  CHECK(evaluate_health(s, policy()).ok);
}

TEST_CASE("health: an unsynchronised clock is a reason unless the policy ignores it", "[http]") {
  AgentStatus s = healthy();
  s.clock_synchronised = false;
  CHECK(only_reason(s).rfind("clock: not synchronised", 0) == 0);
  HealthPolicy p = policy();
  p.require_clock_sync = false;
  CHECK(evaluate_health(s, p).ok);
}

TEST_CASE("health: every failed check is listed, one per line, in text and JSON", "[http]") {
  AgentStatus s = healthy();
  s.writer.accepting = false;
  s.sources[0].state = "disconnected";
  s.sources[0].last_error = "two\nlines";
  s.clock_synchronised = false;
  Health h = evaluate_health(s, policy());
  REQUIRE(h.reasons.size() == 3);
  std::string text = health_text(h);
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);
  CHECK(text.find("two lines") != std::string::npos);
  auto j = nlohmann::json::parse(health_json(h));
  CHECK(j["status"] == "unhealthy");
  CHECK(j["reasons"].size() == 3);
}

TEST_CASE("health: a calibration due, expired or failed is a warning in the body, never unhealthy", "[http][calibration]") {
  AgentStatus s = healthy();
  s.calibration.known = true;
  PointCalibration due;
  due.point = "ch1.energy_kwh";
  due.meter_serial = "PM5560-TH-88213";
  due.state = CalibrationState::due;
  due.last_valid_date = "2028-01-31";
  due.days_left = 12;
  PointCalibration expired = due;
  expired.point = "ch2.energy_kwh";
  expired.state = CalibrationState::expired;
  expired.days_left = -3;
  PointCalibration ok = due;
  ok.point = "ch3.energy_kwh";
  ok.state = CalibrationState::ok;
  ok.days_left = 400;
  PointCalibration unknown;
  unknown.point = "ch4.energy_kwh";
  s.calibration.points = {due, expired, ok, unknown};

  Health h = evaluate_health(s, policy());
  CHECK(h.ok);
  CHECK(h.reasons.empty());
  REQUIRE(h.warnings.size() == 2);
  CHECK(health_text(h) ==
        "ok\n"
        "warning: calibration of point ch1.energy_kwh (meter PM5560-TH-88213) expires 2028-01-31 (in 12 days; "
        "calibration_valid_until in the config)\n"
        "warning: calibration of point ch2.energy_kwh (meter PM5560-TH-88213) expired: valid until 2028-01-31 (3 days "
        "ago; calibration_valid_until in the config); reports correct its readings by the maximum permissible error "
        "until a calibration is recorded\n");
  auto j = nlohmann::json::parse(health_json(h));
  CHECK(j["status"] == "ok");
  CHECK(j["warnings"].size() == 2);

  s.writer.accepting = false;  // unhealthy: the reasons first, then the warnings
  Health bad = evaluate_health(s, policy());
  CHECK_FALSE(bad.ok);
  CHECK(health_text(bad).rfind("journal: not accepting readings", 0) == 0);
  CHECK(health_text(bad).find("\nwarning: calibration of point ch1.energy_kwh") != std::string::npos);
}
