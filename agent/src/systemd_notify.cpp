#include "systemd_notify.hpp"

#include <systemd/sd-daemon.h>

#include <ctime>

namespace mrv::agent {
namespace {

void notify(const std::string& state) { (void)sd_notify(0, state.c_str()); }

uint64_t monotonic_usec() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

void notify_ready(const std::string& status) { notify("READY=1\nSTATUS=" + status); }
// Type=notify-reload (systemd 253+) wants the monotonic time with RELOADING=1; older
// systemd ignores the extra field.
void notify_reloading() { notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec())); }
void notify_stopping() { notify("STOPPING=1"); }
void notify_status(const std::string& status) { notify("STATUS=" + status); }
void notify_watchdog() { notify("WATCHDOG=1"); }

std::optional<std::chrono::microseconds> watchdog_period() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace mrv::agent
