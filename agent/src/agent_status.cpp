#include "agent_status.hpp"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace mrv::agent {

ProcessStats read_process_stats() {
  ProcessStats p;
  long page = ::sysconf(_SC_PAGESIZE), ticks = ::sysconf(_SC_CLK_TCK);
  uint64_t pages_total = 0, pages_resident = 0;
  if (std::ifstream statm("/proc/self/statm"); statm >> pages_total >> pages_resident) {
    p.virtual_bytes = pages_total * static_cast<uint64_t>(page);
    p.resident_bytes = pages_resident * static_cast<uint64_t>(page);
  }
  // /proc/self/stat: fields after the command (which may hold spaces) start at field 3;
  // utime 14, stime 15 and starttime 22 are in clock ticks, starttime after boot.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos || ticks <= 0) return p;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0, start_ticks = 0;
  for (int n = 3; fields >> field && n <= 22; ++n) {
    if (n == 14) utime = std::stoull(field);
    if (n == 15) stime = std::stoull(field);
    if (n == 22) start_ticks = std::stoull(field);
  }
  p.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  std::ifstream proc_stat("/proc/stat");
  for (std::string key; proc_stat >> key;) {
    if (key == "btime") {
      uint64_t boot_s = 0;
      if (proc_stat >> boot_s)
        p.start_time_s = static_cast<double>(boot_s) + static_cast<double>(start_ticks) / static_cast<double>(ticks);
      break;
    }
    proc_stat.ignore(1 << 20, '\n');
  }
  return p;
}

std::string status_json(const AgentStatus& s) {
  using nlohmann::json;
  const WriterStats& w = s.writer;
  json j = {{"now_ms", s.now_ms},
            {"site", s.site_id},
            {"version", s.version},
            {"clock_synchronised", s.clock_synchronised},
            {"writer", {{"submitted", w.submitted}, {"stored", w.stored}, {"duplicates", w.duplicates},
                        {"refused", w.refused}, {"commit_failures", w.commit_failures}, {"held", w.held},
                        {"last_seq", w.last_seq}, {"accepting", w.accepting}, {"last_error", w.last_error},
                        {"config_hash", w.config_hash_hex}}},
            {"sources", json::array()},
            {"points", json::array()}};
  if (s.journal.known)
    j["journal"] = {{"used_bytes", s.journal.used_bytes}, {"file_bytes", s.journal.file_bytes},
                    {"quota_bytes", s.journal.quota_bytes}, {"records", s.journal.record_count},
                    {"sampled_ms", s.journal.sampled_ms}};
  else
    j["journal"] = {{"error", s.journal.error}};
  for (const auto& src : s.sources)
    j["sources"].push_back({{"source", src.label}, {"kind", src.kind}, {"state", src.state},
                            {"state_since_ms", src.state_since_ms}, {"last_error", src.last_error},
                            {"last_reading_ms", src.last_reading_ms}, {"watched_since_ms", src.watched_since_ms},
                            {"stale_after_ms", src.stale_after_ms},
                            {"readings", src.readings}, {"gaps", src.gaps}, {"gaps_today", src.gaps_today}});
  if (s.upload) {
    const auto& u = s.upload->status;
    j["upload"] = {{"url", u.url}, {"cursor", u.cursor}, {"lag_records", s.upload->lag_records},
                   {"lag_s", s.upload->lag_s}, {"uploaded_records", u.uploaded_records}, {"batches", u.batches},
                   {"checkpoints", u.checkpoints}, {"cosignatures", u.cosignatures}, {"retries", u.retries},
                   {"bytes_sent", u.bytes_sent}, {"last_receipt_ms", u.last_receipt_ms},
                   {"last_error", u.last_error}, {"stopped", u.stopped}};
  }
  for (const auto& p : s.points.points) {
    json history = json::array();
    for (const auto& h : p.history)
      history.push_back({h.ts_ms, std::isfinite(h.value) ? json(h.value) : json(nullptr)});
    j["points"].push_back({{"point", p.id}, {"value", p.value}, {"unit", p.unit}, {"ts_ms", p.ts_ms},
                           {"quality", p.quality}, {"readings", p.readings}, {"gaps", p.gaps},
                           {"gaps_today", p.gaps_today}, {"last_gap_ms", p.last_gap_ms},
                           {"gap_reason", p.gap_reason}, {"source", p.source}, {"history", history}});
  }
  if (s.calibration.known) {
    j["calibrations"] = json::array();
    for (const auto& c : s.calibration.points) j["calibrations"].push_back(calibration_json(c));
    if (!s.calibration.error.empty()) j["calibration_error"] = s.calibration.error;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace mrv::agent
