#include "mrv/core/clock.hpp"

#include <sys/timex.h>
#include <time.h>

#include <fstream>

namespace mrv {
namespace {
int64_t clock_ms(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}
}  // namespace

int64_t utc_now_ms() { return clock_ms(CLOCK_REALTIME); }

ClockSync read_kernel_clock_sync() {
  timex tx{};
  int state = adjtimex(&tx);
  bool synced = state != -1 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  return synced ? ClockSync::synchronised : ClockSync::unsynchronised;
}

ClockSample SystemClock::now() {
  ClockSample s;
  s.utc_ms = clock_ms(CLOCK_REALTIME);
  s.mono_ms = clock_ms(CLOCK_BOOTTIME);
  int64_t checked = sync_checked_mono_ms_.load(std::memory_order_relaxed);
  if (checked < 0 || s.mono_ms - checked >= 1000) {
    synchronised_.store(read_kernel_clock_sync() == ClockSync::synchronised,
                        std::memory_order_relaxed);
    sync_checked_mono_ms_.store(s.mono_ms, std::memory_order_relaxed);
  }
  s.sync = synchronised_.load(std::memory_order_relaxed) ? ClockSync::synchronised
                                                         : ClockSync::unsynchronised;
  return s;
}

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!(in >> id)) return "unknown";
  return id;
}

}  // namespace mrv
