#pragma once
// GET /healthz: whether the agent does its job now, and if not, why (one reason per
// failed check, each naming what failed, so an operator can act on the text alone):
//   - journal: the writer accepts readings (not full, no commit failing);
//   - each source: connected (MQTT, Modbus) and fresh (a value committed within its
//     stale_after_ms; counted from when it was first watched when none came yet);
//   - upload (with [upload]): not stopped by a refusal, and the oldest record the
//     registry has not receipted is younger than upload_lag_max_s;
//   - clock: the kernel clock is NTP-synchronised, unless require_clock_sync is false.
// Warnings do not make it unhealthy; they are listed after the reasons: a calibration due,
// expired or failed (the readings are still recorded, signed and uploaded, and reports
// correct them: a meter to recalibrate is work for people, not a broken agent).
#include <cstdint>
#include <string>
#include <vector>

#include "agent_status.hpp"

namespace mrv::agent {

struct HealthPolicy {
  bool require_clock_sync = true;
  double upload_lag_max_s = 3600;
};

struct Health {
  bool ok = true;
  std::vector<std::string> reasons;  // empty when ok
  std::vector<std::string> warnings;  // never make it unhealthy
};

Health evaluate_health(const AgentStatus& status, const HealthPolicy& policy);
// text/plain: "ok\n", or the reasons one per line; then "warning: " and each warning.
std::string health_text(const Health& health);
// {"status":"ok"|"unhealthy","reasons":[...],"warnings":[...]}
std::string health_json(const Health& health);

}  // namespace mrv::agent
