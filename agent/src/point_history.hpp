#pragma once
// What the journal committed, per point and per source, kept in memory for /metrics and
// the status page: the last value and time of every point, readings and gap records per
// point and source, gap records today (UTC), and a short history for a sparkline.
//
// Fed by JournalWriter's commit observer (observe(), on the writer thread); read by
// snapshot() on any thread. Thread-safe: one mutex, held for one batch or one copy.
// Bounded: points and sources are the configured ones plus any new id a reload brings
// (at most kMaxPoints and kMaxSources; beyond, readings are only counted under "other"
// sources or ignored), and each point keeps kSamples samples. O(1) per reading, and no
// allocation per reading once a point has been seen (strings reuse their capacity).
//
// Counts are of what the writer stored after a commit; the duplicates the journal
// skipped (a redelivered MQTT message) are not handed over.
#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::agent {

// A gap record: a reading without a value (a failed or skipped poll, docs/modbus.md).
inline bool is_gap_record(const Reading& r) { return r.value.empty(); }

// The source a reading came from, as configured: "mqtt:NAME", "modbus:NAME", "sim:NAME",
// from its source field ("mqtt:NAME:topic", "modbus:NAME/unit1/...", "sim:NAME/point").
std::string source_label(std::string_view reading_source);

class PointHistory {
 public:
  static constexpr size_t kSamples = 60;
  static constexpr size_t kMaxPoints = 100'000;
  static constexpr size_t kMaxSources = 256;

  struct Sample {
    int64_t ts_ms = 0;
    double value = 0;  // NaN: a gap record
  };
  struct PointView {
    std::string id, unit;
    std::string value;           // the last value ("" when none was committed yet)
    std::string quality;         // of the last record, gap records included
    std::string gap_reason;      // of the last gap record
    int64_t ts_ms = 0;           // the last value's reading time (0: none)
    int64_t last_gap_ms = 0;     // the last gap record's reading time (0: none)
    uint64_t readings = 0, gaps = 0, gaps_today = 0;
    std::string source;          // the source of the last record
    std::vector<Sample> history;  // oldest first, at most kSamples
  };
  struct PointSourceCount {
    std::string point, source;
    uint64_t readings = 0, gaps = 0;
    int64_t last_ts_ms = 0;  // the last value's reading time from this source
  };
  struct SourceView {
    std::string label;
    int64_t last_reading_received_ms = 0;  // our clock at the last committed value (0: none)
    uint64_t readings = 0, gaps = 0, gaps_today = 0;
  };
  struct Snapshot {
    std::vector<PointView> points;         // in config order, then in order first seen
    std::vector<PointSourceCount> counts;  // per point and source
    std::vector<SourceView> sources;
  };

  // Points and sources of `config` are known from the start (shown before any reading).
  // step_ms: the sparkline keeps the latest value per step (0: every reading).
  PointHistory(const Config& config, int64_t step_ms);
  PointHistory(const PointHistory&) = delete;
  PointHistory& operator=(const PointHistory&) = delete;

  // A reload: adds the new config's points and sources (none is forgotten) and the step.
  void add_config(const Config& config, int64_t step_ms);
  // The commit observer: must be quick (it runs on the writer thread after a commit).
  void observe(std::span<const AcceptedReading> committed);
  // with_history false: no sparkline samples (for /metrics). now_ms decides "today".
  Snapshot snapshot(bool with_history, int64_t now_ms) const;

 private:
  struct SourceState {
    std::string label;
    int64_t last_reading_received_ms = 0;
    uint64_t readings = 0, gaps = 0, gaps_today = 0;
    int64_t gaps_day = -1;
  };
  struct PointSource {
    size_t source = 0;
    uint64_t readings = 0, gaps = 0;
    int64_t last_ts_ms = 0;
  };
  struct PointState {
    std::string id, unit, value, quality, gap_reason;
    int64_t ts_ms = 0, last_gap_ms = 0;
    uint64_t readings = 0, gaps = 0, gaps_today = 0;
    int64_t gaps_day = -1;
    std::vector<PointSource> sources;  // usually one
    std::string last_raw_source;       // cache: the raw source field last seen ...
    size_t last_slot = 0;              // ... and its index in `sources`
    std::array<Sample, kSamples> ring{};
    size_t ring_next = 0, ring_size = 0;
  };

  size_t point_index(const std::string& id);       // lock held; SIZE_MAX when full
  size_t source_index(std::string_view raw);       // lock held
  size_t slot_for(PointState& p, const std::string& raw_source);  // lock held
  void add_sample(PointState& p, int64_t ts_ms, double value);    // lock held

  mutable std::mutex mutex_;
  int64_t step_ms_ = 0;
  std::vector<PointState> points_;
  std::unordered_map<std::string, size_t> point_by_id_;
  std::vector<SourceState> sources_;
};

}  // namespace mrv::agent
