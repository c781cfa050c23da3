#include "mrv/collector/simulated_source.hpp"

#include <charconv>
#include <cmath>
#include <numbers>

#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"

namespace mrv::collector {
namespace {
constexpr double kMeanPowerKw = 50.0;
constexpr double kSwingPeriodS = 600.0;
constexpr int64_t kEpochMs = 1767225600000;  // 2026-01-01T00:00:00Z: counters start near 0

std::string fixed(double v, int decimals) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  return std::string(buf, r.ptr);
}
}  // namespace

std::string simulated_value(PointKind kind, int64_t utc_ms) {
  double t = static_cast<double>(utc_ms - kEpochMs) / 1000.0;
  double w = 2 * std::numbers::pi / kSwingPeriodS;
  if (kind == PointKind::gauge) return fixed(kMeanPowerKw * (1 + 0.5 * std::sin(w * t)), 2);
  // The integral of that power in kWh, so the counter only ever grows.
  double kwh = kMeanPowerKw * (t - 0.5 * std::cos(w * t) / w + 0.5 / w) / 3600.0;
  return fixed(kwh, 3);
}

SimulatedSource::SimulatedSource(boost::asio::io_context& io, SimulatedSourceConfig config,
                                 std::vector<PointConfig> points, JournalWriter& writer)
    : timer_(io), config_(std::move(config)), points_(std::move(points)), writer_(writer) {}

void SimulatedSource::start() { schedule(); }

void SimulatedSource::stop() {
  stopped_ = true;
  timer_.cancel();
}

void SimulatedSource::schedule() {
  if (stopped_) return;
  int64_t now = utc_now_ms();
  int64_t next = (now / config_.interval_ms + 1) * config_.interval_ms;
  timer_.expires_after(std::chrono::milliseconds(next - now));
  timer_.async_wait([this, next](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    poll(next);
    schedule();
  });
}

void SimulatedSource::poll(int64_t utc_ms) {
  for (const PointConfig& p : points_) {
    Reading r;
    r.point_id = p.id;
    r.value = simulated_value(p.kind, utc_ms);
    r.unit = p.unit;
    r.ts_ms = utc_ms;
    r.time_source = TimeSource::agent;
    r.source = "sim:" + config_.name + "/" + p.id;
    if (auto t = writer_.submit(std::move(r)); !t) {
      if (stats_.refused++ == 0 || stats_.refused % 1000 == 0)
        log::warning("sim:" + config_.name + ": poll skipped (" + t.error().to_string() +
                     "), " + std::to_string(stats_.refused) + " so far");
      continue;
    }
    ++stats_.readings;
  }
}

}  // namespace mrv::collector
