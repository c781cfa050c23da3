#pragma once
// The systemd service protocol (sd_notify(3), libsystemd): READY=1 once running,
// RELOADING=1 / READY=1 around a reload, STOPPING=1, STATUS= lines, and WATCHDOG=1 at
// half the unit's WatchdogSec while the event loop runs. Outside systemd (no
// NOTIFY_SOCKET) every call does nothing.
#include <chrono>
#include <optional>
#include <string>

namespace mrv::agent {

void notify_ready(const std::string& status);
void notify_reloading();
void notify_stopping();
void notify_status(const std::string& status);
void notify_watchdog();
// Half the watchdog interval systemd asked for, or nullopt when it asked for none.
std::optional<std::chrono::microseconds> watchdog_period();

}  // namespace mrv::agent
