#pragma once
// A built-in simulated meter: plausible, deterministic values for demos and tests, so
// the agent runs end to end with no hardware and no broker. Cumulative points follow a
// counter that only grows (energy of a load whose power swings around 50 kW); gauge
// points follow that power. Values depend only on the time, so a restarted agent
// continues the same counter.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mrv/core/asio.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"

namespace mrv::collector {

// The simulated register value of a point at a given UTC millisecond, as exact text.
std::string simulated_value(PointKind kind, int64_t utc_ms);

struct SourceStats {
  uint64_t readings = 0;
  uint64_t refused = 0;  // the journal pushed back (full): the poll is skipped, not lost
};

class SimulatedSource {
 public:
  // Runs on `io`; polls every configured point each interval, aligned to the interval.
  SimulatedSource(boost::asio::io_context& io, SimulatedSourceConfig config,
                  std::vector<PointConfig> points, JournalWriter& writer);
  void start();
  void stop();
  const SourceStats& stats() const { return stats_; }

 private:
  void schedule();
  void poll(int64_t utc_ms);

  boost::asio::steady_timer timer_;
  SimulatedSourceConfig config_;
  std::vector<PointConfig> points_;
  JournalWriter& writer_;
  SourceStats stats_;
  bool stopped_ = false;
};

}  // namespace mrv::collector
