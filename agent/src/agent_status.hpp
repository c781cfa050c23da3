#pragma once
// Everything /healthz, /metrics, the status page and /status.json show, gathered at one
// moment (AgentHttp::collect) into plain data, so each rendering is a pure function that
// unit tests can feed directly.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "calibration_status.hpp"
#include "mrv/collector/modbus_source.hpp"
#include "mrv/collector/mqtt_source.hpp"
#include "mrv/core/journal_writer.hpp"
#include "mrv/uploader/uploader.hpp"
#include "point_history.hpp"

namespace mrv::agent {

// One configured source as health and the page see it.
struct SourceState {
  std::string label;       // "mqtt:site-broker", "modbus:gw1", "sim:demo"
  std::string kind;        // mqtt, modbus, sim
  std::string state;       // connected, connecting, disconnected, paused, ... ("running": sim)
  std::string last_error;
  int64_t state_since_ms = 0;       // 0: not known
  int64_t last_reading_ms = 0;      // our clock at its last committed value (0: none yet)
  int64_t watched_since_ms = 0;     // since the start, or the reload that added it
  int64_t stale_after_ms = 0;       // no value for this long: not fresh
  uint64_t readings = 0, gaps = 0, gaps_today = 0;  // committed since start
};

// Sizes of the journal file, sampled on another thread (JournalSampler).
struct JournalSizes {
  bool known = false;        // false until the first sample (or when it failed: error)
  std::string error;
  uint64_t used_bytes = 0, file_bytes = 0, quota_bytes = 0, record_count = 0;
  int64_t sampled_ms = 0;
};

struct UploadState {
  uploader::UploaderStatus status;
  uint64_t lag_records = 0;  // committed records the registry has not receipted
  double lag_s = 0;          // how long the oldest of them has waited (0: none waits)
};

// This process, from /proc/self (zeros where it cannot be read).
struct ProcessStats {
  double start_time_s = 0;  // UTC seconds
  uint64_t resident_bytes = 0, virtual_bytes = 0;
  double cpu_seconds = 0;   // user + system
};
ProcessStats read_process_stats();

struct AgentStatus {
  int64_t now_ms = 0;
  std::string site_id, version;
  WriterStats writer;
  std::vector<SourceState> sources;
  std::vector<collector::MqttSourceStatus> mqtt;  // bad inputs, messages, connects
  std::vector<collector::ModbusStatus> modbus;    // polls, requests, retries
  std::optional<UploadState> upload;              // nullopt: no [upload]
  JournalSizes journal;
  bool clock_synchronised = false;
  ProcessStats process;
  PointHistory::Snapshot points;
  CalibrationSnapshot calibration;  // known false: not computed (yet)
};

// The same data as JSON (GET /status.json); the shape of the state file where it overlaps.
std::string status_json(const AgentStatus& status);

}  // namespace mrv::agent
