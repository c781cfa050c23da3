#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <sstream>

#include "metrics_text.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {

constexpr int64_t kNow = 1'767'225'600'000;
const std::string kHostile = "bad\"point\\with\nnewline";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The sample lines of `name` (exactly that metric name), as label text -> value.
std::map<std::string, std::string> samples(const std::string& text, const std::string& name) {
  std::map<std::string, std::string> out;
  for (const auto& line : lines_of(text)) {
    if (line.rfind(name, 0) != 0 || line.size() == name.size()) continue;
    char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    auto space = line.rfind(' ');
    out[line.substr(name.size(), space - name.size())] = line.substr(space + 1);
  }
  return out;
}

AgentStatus status() {
  AgentStatus s;
  s.now_ms = kNow;
  s.site_id = "site-1";
  s.version = "0.1.0";
  s.writer.stored = 42;
  s.writer.commit_seconds.observe(0.000007);  // first bucket
  s.writer.commit_seconds.observe(0.0003);    // le 0.0005
  s.writer.commit_seconds.observe(0.0004);    // le 0.0005
  s.writer.commit_seconds.observe(3.0);       // only +Inf
  s.writer.sign_seconds.observe(0.00004);
  PointHistory::PointSourceCount c;
  c.point = kHostile;
  c.source = "mqtt:broker";
  c.readings = 7;
  c.gaps = 1;
  s.points.counts.push_back(c);
  PointHistory::PointView p;
  p.id = kHostile;
  p.ts_ms = kNow - 1500;
  s.points.points.push_back(p);
  SourceState src;
  src.label = "mqtt:broker";
  src.state = "connected";
  src.last_reading_ms = kNow - 1500;
  s.sources.push_back(src);
  collector::MqttSourceStatus m;
  m.name = "broker";
  m.messages = 9;
  m.bad_inputs["site/{meter}/energy/not_numeric"] = 2;
  m.bad_inputs["/unmapped"] = 1;
  s.mqtt.push_back(m);
  collector::ModbusStatus g;
  g.name = "gw";
  g.polls = 100;
  s.modbus.push_back(g);
  s.journal.known = true;
  s.journal.used_bytes = 1 << 20;
  s.journal.quota_bytes = 1ull << 30;
  UploadState u;
  u.lag_records = 12;
  u.lag_s = 3.5;
  u.status.retries = 4;
  s.upload = u;
  s.process.resident_bytes = 5 << 20;
  s.process.start_time_s = 1'767'225'000.25;
  return s;
}

}  // namespace

TEST_CASE("metrics: label values escape backslash, quote and newline", "[http]") {
  CHECK(escape_label_value("plain") == "plain");
  CHECK(escape_label_value(kHostile) == "bad\\\"point\\\\with\\nnewline");
}

TEST_CASE("metrics: values are exact integers, shortest decimals, +Inf, -Inf and NaN", "[http]") {
  CHECK(format_value(3) == "3");
  CHECK(format_value(0.5) == "0.5");
  CHECK(format_value(0.00001) == "1e-05");
  CHECK(format_value(1767225000.25) == "1767225000.25");
  CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(format_value(std::nan("")) == "NaN");
}

TEST_CASE("metrics: a family is HELP, TYPE, then its samples; help text is escaped", "[http]") {
  PrometheusText m;
  m.family("x_total", "counter", "Two\nlines \\ here.");
  m.sample("x_total", {{"a", "1"}, {"b", "q\""}}, uint64_t{5});
  m.sample("x_total", {}, 0.25);
  CHECK(m.text() ==
        "# HELP x_total Two\\nlines \\\\ here.\n# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"\"} 5\nx_total 0.25\n");
}

TEST_CASE("metrics: a histogram's buckets are cumulative and end in +Inf = count", "[http]") {
  LatencyHistogram h;
  for (double v : {0.000005, 0.00002, 0.00002, 0.0009, 0.2, 7.0}) h.observe(v);
  PrometheusText m;
  m.histogram("lat_seconds", "Latency.", h);
  auto lines = lines_of(m.text());
  REQUIRE(lines.size() == 2 + LatencyHistogram::kBounds.size() + 3);
  CHECK(lines[1] == "# TYPE lat_seconds histogram");
  uint64_t previous = 0;
  for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
    const std::string& line = lines[2 + i];
    CHECK(line.rfind("lat_seconds_bucket{le=\"" + format_value(LatencyHistogram::kBounds[i]) + "\"} ", 0) == 0);
    uint64_t v = std::stoull(line.substr(line.rfind(' ') + 1));
    CHECK(v >= previous);
    previous = v;
  }
  CHECK(lines[2] == "lat_seconds_bucket{le=\"1e-05\"} 1");
  CHECK(lines[3] == "lat_seconds_bucket{le=\"2.5e-05\"} 3");
  CHECK(previous == 5);  // 7 s is above the last bound
  CHECK(lines[2 + LatencyHistogram::kBounds.size()] == "lat_seconds_bucket{le=\"+Inf\"} 6");
  CHECK(lines[3 + LatencyHistogram::kBounds.size()].rfind("lat_seconds_sum 7.2", 0) == 0);
  CHECK(lines.back() == "lat_seconds_count 6");
}

TEST_CASE("metrics: the agent's families, well formed, counters ending in _total", "[http]") {
  std::string text = render_metrics(status());
  CHECK(text.back() == '\n');
  static const std::regex kSample(R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? \S+$)re");
  std::map<std::string, std::string> types;
  for (const auto& line : lines_of(text)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream in(line.substr(7));
      std::string name, type;
      in >> name >> type;
      CHECK(types.count(name) == 0);  // each family once
      types[name] = type;
      if (type == "counter") CHECK(name.size() > 6);
      if (type == "counter") CHECK(name.substr(name.size() - 6) == "_total");
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    INFO(line);
    CHECK(std::regex_match(line, kSample));
  }
  for (const char* family :
       {"mrv_readings_total", "mrv_gap_records_total", "mrv_bad_inputs_total", "mrv_journal_used_bytes",
        "mrv_journal_quota_bytes", "mrv_upload_lag_records", "mrv_upload_lag_seconds", "mrv_upload_errors_total",
        "mrv_journal_commit_duration_seconds", "mrv_journal_sign_duration_seconds", "process_start_time_seconds",
        "process_resident_memory_bytes", "mrv_build_info", "mrv_modbus_polls_total", "mrv_source_up"}) {
    INFO(family);
    CHECK(types.count(family) == 1);
  }
  CHECK(types["mrv_journal_commit_duration_seconds"] == "histogram");

  CHECK(samples(text, "mrv_readings_total") ==
        std::map<std::string, std::string>{{"{point=\"bad\\\"point\\\\with\\nnewline\",source=\"mqtt:broker\"}", "7"}});
  auto bad = samples(text, "mrv_bad_inputs_total");
  CHECK(bad["{source=\"mqtt:broker\",subscription=\"site/{meter}/energy\",reason=\"not_numeric\"}"] == "2");
  CHECK(bad["{source=\"mqtt:broker\",subscription=\"\",reason=\"unmapped\"}"] == "1");
  CHECK(samples(text, "mrv_upload_lag_seconds")[""] == "3.5");
  CHECK(samples(text, "mrv_upload_errors_total")[""] == "4");
  CHECK(samples(text, "mrv_journal_quota_bytes")[""] == "1073741824");
  CHECK(samples(text, "mrv_journal_commit_duration_seconds_bucket")["{le=\"0.0005\"}"] == "3");
  CHECK(samples(text, "mrv_journal_commit_duration_seconds_bucket")["{le=\"+Inf\"}"] == "4");
  CHECK(samples(text, "mrv_journal_commit_duration_seconds_count")[""] == "4");
  CHECK(samples(text, "mrv_point_last_reading_timestamp_seconds").begin()->second == "1767225598.5");
  CHECK(samples(text, "process_start_time_seconds")[""] == "1767225000.25");
}

TEST_CASE("metrics: no uploader and no journal sample leave those families out", "[http]") {
  AgentStatus s = status();
  s.upload.reset();
  s.journal.known = false;
  std::string text = render_metrics(s);
  CHECK(text.find("mrv_upload_") == std::string::npos);
  CHECK(text.find("mrv_journal_used_bytes") == std::string::npos);
  CHECK(text.find("mrv_journal_stored_total 42\n") != std::string::npos);
}

TEST_CASE("metrics: each meter's calibration end and its state, 1 for the current one", "[http][calibration]") {
  AgentStatus s = status();
  CHECK(render_metrics(s).find("mrv_calibration_") == std::string::npos);  // not computed yet
  s.calibration.known = true;
  PointCalibration due;
  due.point = "ch1.energy_kwh";
  due.meter_serial = "PM5560-TH-88213";
  due.state = CalibrationState::due;
  due.valid_until_ms = 1'832'947'200'000;  // 2028-01-31T16:00:00Z
  PointCalibration unknown;
  unknown.point = "ch2.energy_kwh";
  unknown.meter_serial = "EM-2";
  s.calibration.points = {due, unknown};
  std::string text = render_metrics(s);
  CHECK(text.find("# TYPE mrv_calibration_valid_until_seconds gauge\n") != std::string::npos);
  CHECK(text.find("# TYPE mrv_calibration_state gauge\n") != std::string::npos);
  CHECK(samples(text, "mrv_calibration_valid_until_seconds") ==
        std::map<std::string, std::string>{{"{point=\"ch1.energy_kwh\",meter=\"PM5560-TH-88213\"}", "1832947200"}});
  auto states = samples(text, "mrv_calibration_state");
  CHECK(states.size() == 10);
  CHECK(states["{point=\"ch1.energy_kwh\",meter=\"PM5560-TH-88213\",state=\"due\"}"] == "1");
  CHECK(states["{point=\"ch1.energy_kwh\",meter=\"PM5560-TH-88213\",state=\"ok\"}"] == "0");
  CHECK(states["{point=\"ch1.energy_kwh\",meter=\"PM5560-TH-88213\",state=\"expired\"}"] == "0");
  CHECK(states["{point=\"ch2.energy_kwh\",meter=\"EM-2\",state=\"unknown\"}"] == "1");
  CHECK(states["{point=\"ch2.energy_kwh\",meter=\"EM-2\",state=\"failed\"}"] == "0");
}
