#pragma once
// Logging for a daemon under systemd: one line per message on stderr. Under journald
// (JOURNAL_STREAM set) each line starts with the sd-daemon priority prefix "<N>", which
// journald turns into the entry's priority; on a terminal it starts with the UTC time
// and the level name. Priorities are syslog's (LOG_ERR, LOG_INFO, ...).
// Thread-safe: each line is written with one write(2).
// Why not spdlog: it has no sd-daemon prefix sink without libsystemd, and this is all
// the agent needs.
#include <sys/syslog.h>

#include <string_view>

namespace mrv::log {

void write(int priority, std::string_view message);

inline void error(std::string_view m) { write(LOG_ERR, m); }
inline void warning(std::string_view m) { write(LOG_WARNING, m); }
inline void notice(std::string_view m) { write(LOG_NOTICE, m); }
inline void info(std::string_view m) { write(LOG_INFO, m); }

}  // namespace mrv::log
