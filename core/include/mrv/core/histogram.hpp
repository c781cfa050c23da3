#pragma once
// A latency histogram with fixed buckets, in the shape Prometheus exposes one: cumulative
// counts per upper bound, the sum and the count. Plain data: copy it to read it.
#include <array>
#include <cstdint>

namespace mrv {

struct LatencyHistogram {
  // Upper bounds in seconds (le); an observation above the last one counts only in +Inf.
  static constexpr std::array<double, 12> kBounds = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                                     0.001,   0.0025,   0.005,   0.01,   0.05,    0.25};
  std::array<uint64_t, kBounds.size()> buckets{};  // non-cumulative: observations in (previous bound, bound]
  double sum_s = 0;
  uint64_t count = 0;

  void observe(double seconds) {
    for (size_t i = 0; i < kBounds.size(); ++i)
      if (seconds <= kBounds[i]) {
        ++buckets[i];
        break;
      }
    sum_s += seconds;
    ++count;
  }
};

}  // namespace mrv
