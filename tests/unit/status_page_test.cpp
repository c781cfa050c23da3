#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <regex>

#include "status_page.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {

constexpr int64_t kNow = 1'767'225'600'000;
const char* kHostile = "<script>alert('x')</script>&\"";

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

PointHistory::PointView point_view(const std::string& id, int samples) {
  PointHistory::PointView p;
  p.id = id;
  p.unit = "kWh";
  p.value = "12.5";
  p.quality = "good";
  p.ts_ms = kNow - 3000;
  p.source = "mqtt:broker";
  for (int i = 0; i < samples; ++i) p.history.push_back({kNow - (samples - i) * 60'000, double(i % 7)});
  return p;
}

AgentStatus hostile_status() {
  AgentStatus s;
  s.now_ms = kNow;
  s.site_id = kHostile;
  s.version = "0.1.0";
  s.writer.last_error = kHostile;
  s.writer.accepting = false;
  SourceState src;
  src.label = std::string("mqtt:") + kHostile;
  src.state = "disconnected";
  src.last_error = kHostile;
  s.sources.push_back(src);
  PointHistory::PointView p = point_view(kHostile, 5);
  p.unit = kHostile;
  p.value = kHostile;
  p.source = kHostile;
  p.gap_reason = kHostile;
  p.gaps_today = 1;
  s.points.points.push_back(p);
  UploadState u;
  u.status.url = kHostile;
  u.status.last_error = kHostile;
  u.status.stopped = kHostile;
  s.upload = u;
  s.journal.error = kHostile;
  return s;
}

}  // namespace

TEST_CASE("status page: html_escape escapes the five characters that matter", "[http]") {
  CHECK(html_escape("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;");
}

TEST_CASE("status page: every text from configs and peers is escaped", "[http]") {
  AgentStatus s = hostile_status();
  Health h{false, {std::string("mqtt:") + kHostile + ": disconnected"}, {}};
  std::string page = render_status_page(s, h);
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("alert('x')") == std::string::npos);
  // site (title, heading), source label, state error, writer error, point id, value, unit,
  // source, gap reason, upload url, last error, stopped, journal error, health reason
  CHECK(count(page, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;") >= 14);
}

TEST_CASE("status page: self-contained: no script, no external resource, reloads itself", "[http]") {
  AgentStatus s = hostile_status();
  std::string page = render_status_page(s, Health{});
  CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(page.find("<meta http-equiv=\"refresh\" content=\"5\">") != std::string::npos);
  CHECK(page.find("<link rel=\"icon\" href=\"data:,\">") != std::string::npos);  // no favicon request
  CHECK(page.find(" src=") == std::string::npos);
  static const std::regex kHref(R"re(href="([^"]*)")re");
  for (auto it = std::sregex_iterator(page.begin(), page.end(), kHref); it != std::sregex_iterator(); ++it) {
    std::string target = (*it)[1];
    INFO(target);
    CHECK((target == "data:," || target.rfind("/", 0) == 0));
    CHECK(target.rfind("//", 0) != 0);
  }
}

TEST_CASE("status page: health is shown first: healthy, or each reason", "[http]") {
  AgentStatus s = hostile_status();
  CHECK(render_status_page(s, Health{}).find("<p class=\"ok\" id=\"health\">Healthy</p>") != std::string::npos);
  std::string page = render_status_page(s, Health{false, {"journal: not accepting", "clock: not synchronised"}, {}});
  CHECK(page.find("<li>journal: not accepting</li>") != std::string::npos);
  CHECK(page.find("<li>clock: not synchronised</li>") != std::string::npos);
}

TEST_CASE("status page: a sparkline is a line per run of values, a dot for a lone one", "[http]") {
  using S = PointHistory::Sample;
  CHECK(sparkline_svg({}).empty());
  std::vector<S> gaps_only{{kNow, NAN}, {kNow + 1, NAN}};
  CHECK(sparkline_svg(gaps_only).empty());
  std::vector<S> broken{{kNow, 1}, {kNow + 1000, 2}, {kNow + 2000, NAN}, {kNow + 3000, 3}, {kNow + 4000, NAN},
                        {kNow + 5000, 4}, {kNow + 6000, 5}};
  std::string svg = sparkline_svg(broken);
  CHECK(svg.rfind("<svg class=\"spark\"", 0) == 0);
  CHECK(count(svg, "<polyline") == 2);
  CHECK(count(svg, "<circle") == 1);
  CHECK(svg.find("nan") == std::string::npos);
  std::vector<S> flat{{kNow, 7}, {kNow + 1000, 7}};
  CHECK(sparkline_svg(flat).find("points=\"2.0,12.0 118.0,12.0\"") != std::string::npos);
  std::vector<S> one{{kNow, 7}};
  CHECK(sparkline_svg(one).find("<circle cx=\"60.0\" cy=\"12.0\"") != std::string::npos);
}

TEST_CASE("status page: 1,000 points render as one table row each, quickly", "[http]") {
  AgentStatus s;
  s.now_ms = kNow;
  s.site_id = "big";
  for (int i = 0; i < 1000; ++i) s.points.points.push_back(point_view("m" + std::to_string(i) + ".energy_kwh", 60));
  auto t0 = std::chrono::steady_clock::now();
  std::string page = render_status_page(s, Health{});
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  CHECK(count(page, "<tr><td><code>m") == 1000);
  CHECK(count(page, "<svg class=\"spark\"") == 1000);
  CHECK(page.find("m999.energy_kwh") != std::string::npos);
  CHECK(page.size() < 2'000'000);
  CHECK(ms < 1000);  // generous: about 10 ms in a release build
}

TEST_CASE("status page: a calibration table, the warnings named under the health", "[http][calibration]") {
  AgentStatus s = hostile_status();
  CHECK(render_status_page(s, Health{}).find("id=\"calibration\"") == std::string::npos);  // not computed
  s.calibration.known = true;
  PointCalibration due;
  due.point = kHostile;
  due.meter_serial = kHostile;
  due.state = CalibrationState::due;
  due.valid_until_ms = 1'832'947'200'000;
  due.last_valid_date = "2028-01-31";
  due.days_left = 12;
  due.seq = 41;
  due.certificate = kHostile;
  PointCalibration ok;
  ok.point = "ch2.energy_kwh";
  ok.meter_serial = "EM-2";
  ok.state = CalibrationState::ok;
  ok.last_valid_date = "2030-01-31";
  ok.days_left = 800;
  s.calibration.points = {due, ok};
  Health h;
  h.warnings = {calibration_message(due)};
  std::string page = render_status_page(s, h);
  CHECK(page.find("<script") == std::string::npos);
  CHECK(page.find("<div class=\"warn\" id=\"warnings\">") != std::string::npos);
  CHECK(page.find("<table id=\"calibration\">") != std::string::npos);
  CHECK(page.find("<td class=\"bad\">due</td><td class=\"num\">2028-01-31</td><td class=\"num\">12</td>") !=
        std::string::npos);
  CHECK(page.find("(record seq 41)") != std::string::npos);
  CHECK(page.find("<code>ch2.energy_kwh</code></th><td><code>EM-2</code></td><td>ok</td><td class=\"num\">2030-01-31"
                  "</td><td class=\"num\">800</td><td>calibration_valid_until in the config</td>") != std::string::npos);
}
