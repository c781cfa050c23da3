#pragma once
// Keeps the running agent's calibration status (calibration_status.hpp) current and logs
// each change, on a thread of its own with its own read-only journal handle (like
// JournalSampler), so the io_context never waits on SQLite.
//
// It computes at start, after set_config (a reload), when a site record was committed
// (each poll reads the journal's site_records copy and decodes only the new rows;
// refresh() looks at once), at the instant a state changes by time alone (ok to due, due
// to expired), and at least every `recompute`.
// It logs once per change of a point's state or meter (and when a new calibration moves
// the end of a warned one): a warning for due, expired and failed, a notice when a point
// is ok again, info for unknown; at start only what is not ok.
// Thread-safe.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "calibration_status.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::agent {

// The calibrations and meter exchanges of the journal's site records with seq > after_seq,
// and the highest seq of any site record it holds (after_seq when none is newer). A record
// that does not decode is skipped and named in `problem`.
struct CalibrationRecords {
  std::vector<SiteRecordAt> records;
  uint64_t through_seq = 0;
  std::string problem;
};
[[nodiscard]] Result<CalibrationRecords> read_calibration_records(Journal& journal, uint64_t after_seq = 0);

class CalibrationWatch {
 public:
  using LogFn = std::function<void(int priority, const std::string& message)>;
  struct Options {
    std::chrono::milliseconds poll{10'000};          // looks for new site records this often
    std::chrono::milliseconds recompute{3'600'000};  // computes at least this often
    bool own_thread = true;                          // false: nothing runs until tick() (tests)
    std::function<int64_t()> now;                    // UTC ms; default utc_now_ms
    LogFn log;                                       // default log::write
  };

  CalibrationWatch(const Config& config, Options options);
  ~CalibrationWatch();  // stop()s
  CalibrationWatch(const CalibrationWatch&) = delete;
  CalibrationWatch& operator=(const CalibrationWatch&) = delete;

  // A reload: the points, meters, dates, time zone and lead time of `config`, computed at
  // the next tick (at once with own_thread).
  void set_config(const Config& config);
  // A site record was committed: look for it now rather than at the next poll.
  void refresh();
  CalibrationSnapshot snapshot() const;
  // One round: what the thread does; call it directly only without own_thread.
  void tick();
  void stop();

 private:
  struct Logged {
    CalibrationState state;
    std::string meter_serial;
    int64_t valid_until_ms;
  };
  void run();
  void log_changes(const std::vector<PointCalibration>& points);

  const Options options_;
  // The watching side (the thread, or the caller of tick()).
  std::optional<Journal> journal_;
  std::filesystem::path journal_path_;
  std::vector<SiteRecordAt> records_;
  uint64_t records_through_ = 0;
  std::shared_ptr<const Config> computed_for_;
  int64_t next_compute_ms_ = 0;
  std::map<std::string, Logged> logged_;  // by point
  // Shared.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false, woken_ = false;
  std::shared_ptr<const Config> config_;
  CalibrationSnapshot snapshot_;
  std::thread thread_;
};

}  // namespace mrv::agent
