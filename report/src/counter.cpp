#include "mrv/report/counter.hpp"

namespace mrv::report {

const char* to_string(CounterBreak b) {
  switch (b) {
    case CounterBreak::exchange: return "exchange";
    case CounterBreak::rollover: return "rollover";
    case CounterBreak::reset: return "reset";
  }
  return "?";
}

CounterAggregator::CounterAggregator(std::optional<double> rollover_at) : rollover_at_(rollover_at) {}

void CounterAggregator::push(const CounterReading& r) {
  auto& segments = result_.segments;
  if (segments.empty()) {
    segments.push_back({r, r, 0});
    return;
  }
  CounterSegment& current = segments.back();
  const CounterReading before = current.last;
  if (r.meter_serial != before.meter_serial) {
    result_.events.push_back({CounterBreak::exchange, before, r});
    segments.push_back({r, r, 0});
    return;
  }
  if (r.value >= before.value) {
    current.counted += r.value - before.value;
    result_.total += r.value - before.value;
    current.last = r;
    return;
  }
  if (rollover_at_ && before.value >= 0.9 * *rollover_at_ && before.value <= *rollover_at_) {
    // Wrapped: what was counted up to the maximum and since zero.
    result_.events.push_back({CounterBreak::rollover, before, r});
    double wrapped = (*rollover_at_ - before.value) + r.value;
    current.counted += wrapped;
    result_.total += wrapped;
    current.last = r;
    return;
  }
  result_.events.push_back({CounterBreak::reset, before, r});
  segments.push_back({r, r, 0});
}

}  // namespace mrv::report
