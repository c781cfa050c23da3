#pragma once
// The energy (or volume) a cumulative register counted over a run of readings: the sum,
// over the segments between detected breaks, of each segment's last minus first value
// (docs/domain.md: a lost intermediate reading loses nothing). A break is never absorbed
// silently; it is an event in the result:
//   exchange  the meter serial changed: a new segment starts at the new meter's reading
//   rollover  the register fell from near its configured maximum (top tenth) to near 0
//             (bottom tenth): it wrapped, and the wrap is counted (max - before + after)
//   reset     any other fall: a new segment starts at the value after it; what the meter
//             counted between the last reading before and the reset is unknown and not
//             credited (conservative)
// Pure logic: readings in, numbers and events out (the report reads the journal).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mrv::report {

struct CounterReading {
  uint64_t seq = 0;
  int64_t ts_ms = 0;
  double value = 0;
  std::string meter_serial;  // "" when the config names none
};

enum class CounterBreak { exchange, rollover, reset };
const char* to_string(CounterBreak b);

struct CounterEvent {
  CounterBreak kind;
  CounterReading before, after;
};

struct CounterSegment {
  CounterReading first, last;
  double wrapped = 0;  // what rollovers inside it added beyond last - first
  double counted = 0;  // last - first + wrapped
};

struct CounterTotal {
  double total = 0;  // the segments' counted, summed, in the register's unit
  std::vector<CounterSegment> segments;
  std::vector<CounterEvent> events;
};

class CounterAggregator {
 public:
  // rollover_at: the register's maximum (it wraps to 0 after it); nullopt when it has
  // none. A fall counts as a rollover only from the top tenth of that range to its
  // bottom tenth; any other fall is a reset (nothing credited across it).
  explicit CounterAggregator(std::optional<double> rollover_at = std::nullopt);
  // Readings in time order.
  // Returns what this reading added to the total.
  double push(const CounterReading& reading);
  const CounterTotal& result() const { return result_; }

 private:
  std::optional<double> rollover_at_;
  double closed_total_ = 0;  // the segments before the current one
  CounterTotal result_;
};

}  // namespace mrv::report
