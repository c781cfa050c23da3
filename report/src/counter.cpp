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

double CounterAggregator::push(const CounterReading& r) {
  auto& segments = result_.segments;
  if (segments.empty()) {
    segments.push_back({r, r, 0, 0});
    return 0;
  }
  CounterSegment& current = segments.back();
  const CounterReading& before = current.last;
  std::optional<CounterBreak> break_kind;
  if (r.meter_serial != before.meter_serial) break_kind = CounterBreak::exchange;
  else if (r.value < before.value)
    break_kind = rollover_at_ && before.value >= 0.9 * *rollover_at_ && before.value <= *rollover_at_ &&
                         r.value <= 0.1 * *rollover_at_
                     ? CounterBreak::rollover
                     : CounterBreak::reset;
  if (break_kind) result_.events.push_back({*break_kind, before, r});
  if (break_kind == CounterBreak::exchange || break_kind == CounterBreak::reset) {
    closed_total_ += current.counted;
    segments.push_back({r, r, 0, 0});
    return 0;
  }
  // Wrapped: what was counted up to the maximum and since zero. The segment's count is
  // its last minus first (plus wraps), so rounding does not add up over many readings.
  if (break_kind == CounterBreak::rollover) current.wrapped += *rollover_at_;
  double old = current.counted;
  current.last = r;
  current.counted = current.last.value - current.first.value + current.wrapped;
  result_.total = closed_total_ + current.counted;
  return current.counted - old;
}

}  // namespace mrv::report
