#include "health.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace mrv::agent {
namespace {

// "12 s", "3.3 s": tenths rounded up, so a value just over its limit never reads as
// equal to it.
std::string seconds(double s) {
  double tenths = std::ceil(s * 10 - 1e-9);
  char buf[32];
  if (std::fmod(tenths, 10) == 0) std::snprintf(buf, sizeof buf, "%.0f s", tenths / 10);
  else std::snprintf(buf, sizeof buf, "%.1f s", tenths / 10);
  return buf;
}
std::string seconds(int64_t ms) { return seconds(static_cast<double>(ms) / 1000.0); }

}  // namespace

Health evaluate_health(const AgentStatus& s, const HealthPolicy& policy) {
  Health h;
  auto fail = [&](std::string reason) { h.reasons.push_back(std::move(reason)); };

  if (!s.writer.accepting)
    fail("journal: not accepting readings: " + (s.writer.last_error.empty() ? "unknown" : s.writer.last_error));

  for (const SourceState& src : s.sources) {
    bool up = src.state == "connected" || src.state == "running";
    if (!up) {
      std::string r = src.label + ": " + src.state;
      if (src.state_since_ms > 0) r += " for " + seconds(s.now_ms - src.state_since_ms);
      if (!src.last_error.empty()) r += ": " + src.last_error;
      fail(std::move(r));
      continue;  // not connected says it; staleness would repeat it
    }
    int64_t since = std::max(src.last_reading_ms, src.watched_since_ms);
    if (src.stale_after_ms > 0 && s.now_ms - since > src.stale_after_ms)
      fail(src.label + ": no reading for " + seconds(s.now_ms - since) + " (limit " +
           seconds(src.stale_after_ms) + ")" + (src.last_reading_ms == 0 ? ", none yet" : ""));
  }

  if (s.upload) {
    const auto& u = *s.upload;
    if (!u.status.stopped.empty()) fail("upload: stopped: " + u.status.stopped);
    if (u.lag_s > policy.upload_lag_max_s)
      fail("upload: " + std::to_string(u.lag_records) + " record(s) not receipted, the oldest for " +
           seconds(u.lag_s) + " (limit " + seconds(policy.upload_lag_max_s) + ")" +
           (u.status.last_error.empty() ? "" : ": " + u.status.last_error));
  }

  if (policy.require_clock_sync && !s.clock_synchronised)
    fail("clock: not synchronised (kernel NTP state; [http] require_clock_sync = false where there is no NTP)");

  for (const PointCalibration& c : s.calibration.points)
    if (is_warning(c.state)) h.warnings.push_back(calibration_message(c));

  h.ok = h.reasons.empty();
  return h;
}

std::string health_text(const Health& health) {
  std::string out = health.ok ? "ok\n" : "";
  auto add = [&](std::string_view prefix, std::string line) {
    std::replace(line.begin(), line.end(), '\n', ' ');  // one reason, one line
    out += std::string(prefix) + line + "\n";
  };
  for (const auto& r : health.reasons) add("", r);
  for (const auto& w : health.warnings) add("warning: ", w);
  return out;
}

std::string health_json(const Health& health) {
  nlohmann::json j = {{"status", health.ok ? "ok" : "unhealthy"}, {"reasons", health.reasons},
                      {"warnings", health.warnings}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace mrv::agent
