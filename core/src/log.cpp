#include "mrv/core/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace mrv::log {
namespace {
const bool under_journald = std::getenv("JOURNAL_STREAM") != nullptr;
constexpr const char* kNames[] = {"EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG"};
}  // namespace

void write(int priority, std::string_view message) {
  std::string line;
  line.reserve(message.size() + 40);
  if (under_journald) {
    line = "<" + std::to_string(priority) + ">";
  } else {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm utc{};
    gmtime_r(&ts.tv_sec, &utc);
    char stamp[96];
    std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-6s ",
                  utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                  utc.tm_sec, ts.tv_nsec / 1000000, kNames[priority & 7]);
    line = stamp;
  }
  line.append(message);
  line += '\n';
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace mrv::log
