#pragma once
// The agent's view of time: UTC, a monotonic clock, the kernel's NTP sync state and the
// boot id. Thread-safe; sync state is re-read from the kernel at most once a second so
// sampling stays a vDSO call on the hot path.
#include <atomic>
#include <string>

#include "mrv/core/reading.hpp"

namespace mrv {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual ClockSample now() = 0;
};

class SystemClock final : public Clock {
 public:
  ClockSample now() override;

 private:
  std::atomic<int64_t> sync_checked_mono_ms_{-1};
  std::atomic<bool> synchronised_{false};
};

// adjtimex(2): synchronised when the kernel's STA_UNSYNC flag is clear and the call does
// not return TIME_ERROR (what chrony, ntpd and systemd-timesyncd maintain).
ClockSync read_kernel_clock_sync();

// /proc/sys/kernel/random/boot_id, or "unknown" where it cannot be read.
std::string read_boot_id();

int64_t utc_now_ms();

}  // namespace mrv
