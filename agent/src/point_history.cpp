#include "point_history.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace mrv::agent {
namespace {

constexpr int64_t kDayMs = 86'400'000;

int64_t utc_day(int64_t ms) { return ms >= 0 ? ms / kDayMs : (ms - kDayMs + 1) / kDayMs; }

double parse_value(const std::string& text) {
  double v = std::numeric_limits<double>::quiet_NaN();
  if (text.empty()) return v;
  std::from_chars(text.data(), text.data() + text.size(), v);  // v stays NaN when it is no number
  return v;
}

bool names_source(std::string_view raw, std::string_view label) {
  return raw.starts_with(label) &&
         (raw.size() == label.size() || raw[label.size()] == ':' || raw[label.size()] == '/');
}

}  // namespace

std::string source_label(std::string_view raw) {
  auto kind_end = raw.find(':');
  if (kind_end == std::string_view::npos) return std::string(raw);
  auto name_end = raw.find_first_of(":/", kind_end + 1);
  return std::string(raw.substr(0, name_end));
}

PointHistory::PointHistory(const Config& config, int64_t step_ms) {
  points_.reserve(config.points.size());
  add_config(config, step_ms);
}

void PointHistory::add_config(const Config& config, int64_t step_ms) {
  std::lock_guard lock(mutex_);
  step_ms_ = step_ms;
  auto add_source = [&](std::string label) {
    for (const auto& s : sources_)
      if (s.label == label) return;
    if (sources_.size() < kMaxSources) sources_.push_back(SourceState{std::move(label)});
  };
  for (const auto& s : config.simulated_sources) add_source("sim:" + s.name);
  for (const auto& m : config.mqtt_sources) add_source("mqtt:" + m.name);
  for (const auto& g : config.modbus_gateways) add_source("modbus:" + g.name);
  for (const auto& p : config.points) {
    size_t i = point_index(p.id);
    if (i != SIZE_MAX && points_[i].unit.empty()) points_[i].unit = p.unit;
  }
}

size_t PointHistory::point_index(const std::string& id) {
  if (auto it = point_by_id_.find(id); it != point_by_id_.end()) return it->second;
  if (points_.size() >= kMaxPoints) return SIZE_MAX;
  points_.emplace_back();
  points_.back().id = id;
  point_by_id_.emplace(id, points_.size() - 1);
  return points_.size() - 1;
}

size_t PointHistory::source_index(std::string_view raw) {
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < sources_.size(); ++i)  // the longest configured label that names it
    if (names_source(raw, sources_[i].label) &&
        (best == SIZE_MAX || sources_[i].label.size() > sources_[best].label.size()))
      best = i;
  if (best != SIZE_MAX) return best;
  std::string label = sources_.size() < kMaxSources - 1 ? source_label(raw) : std::string("other");
  for (size_t i = 0; i < sources_.size(); ++i)
    if (sources_[i].label == label) return i;
  sources_.push_back(SourceState{std::move(label)});
  return sources_.size() - 1;
}

size_t PointHistory::slot_for(PointState& p, const std::string& raw_source) {
  if (!p.sources.empty() && p.last_raw_source == raw_source) return p.last_slot;
  size_t source = source_index(raw_source);
  size_t slot = 0;
  while (slot < p.sources.size() && p.sources[slot].source != source) ++slot;
  if (slot == p.sources.size()) p.sources.push_back(PointSource{source});
  p.last_raw_source = raw_source;
  p.last_slot = slot;
  return slot;
}

void PointHistory::add_sample(PointState& p, int64_t ts_ms, double value) {
  if (p.ring_size > 0 && step_ms_ > 0) {
    Sample& newest = p.ring[(p.ring_next + kSamples - 1) % kSamples];
    if (ts_ms / step_ms_ == newest.ts_ms / step_ms_) {  // same step: keep the latest
      newest = Sample{ts_ms, value};
      return;
    }
  }
  p.ring[p.ring_next] = Sample{ts_ms, value};
  p.ring_next = (p.ring_next + 1) % kSamples;
  p.ring_size = std::min(p.ring_size + 1, kSamples);
}

void PointHistory::observe(std::span<const AcceptedReading> committed) {
  std::lock_guard lock(mutex_);
  for (const AcceptedReading& a : committed) {
    const Reading& r = a.reading;
    size_t i = point_index(r.point_id);
    if (i == SIZE_MAX) continue;
    PointState& p = points_[i];
    PointSource& ps = p.sources[slot_for(p, r.source)];
    SourceState& s = sources_[ps.source];
    int64_t day = utc_day(a.received.utc_ms);
    p.quality = to_string(r.quality);
    if (is_gap_record(r)) {
      ++p.gaps;
      ++ps.gaps;
      ++s.gaps;
      p.gaps_today = p.gaps_day == day ? p.gaps_today + 1 : 1;
      s.gaps_today = s.gaps_day == day ? s.gaps_today + 1 : 1;
      p.gaps_day = s.gaps_day = day;
      p.gap_reason = r.reason;
      p.last_gap_ms = std::max(p.last_gap_ms, r.ts_ms);
      add_sample(p, r.ts_ms, std::numeric_limits<double>::quiet_NaN());
      continue;
    }
    ++p.readings;
    ++ps.readings;
    ++s.readings;
    s.last_reading_received_ms = std::max(s.last_reading_received_ms, a.received.utc_ms);
    ps.last_ts_ms = std::max(ps.last_ts_ms, r.ts_ms);
    if (r.ts_ms >= p.ts_ms) {  // an older reading arriving late does not replace the last one
      p.ts_ms = r.ts_ms;
      p.value = r.value;
      if (p.unit != r.unit) p.unit = r.unit;
    }
    add_sample(p, r.ts_ms, parse_value(r.value));
  }
}

PointHistory::Snapshot PointHistory::snapshot(bool with_history, int64_t now_ms) const {
  int64_t today = utc_day(now_ms);
  Snapshot out;
  std::lock_guard lock(mutex_);
  out.points.reserve(points_.size());
  for (const PointState& p : points_) {
    PointView v;
    v.id = p.id;
    v.unit = p.unit;
    v.value = p.value;
    v.quality = p.quality;
    v.gap_reason = p.gap_reason;
    v.ts_ms = p.ts_ms;
    v.last_gap_ms = p.last_gap_ms;
    v.readings = p.readings;
    v.gaps = p.gaps;
    v.gaps_today = p.gaps_day == today ? p.gaps_today : 0;
    if (!p.sources.empty()) v.source = sources_[p.sources[p.last_slot].source].label;
    if (with_history) {
      v.history.reserve(p.ring_size);
      for (size_t k = 0; k < p.ring_size; ++k)
        v.history.push_back(p.ring[(p.ring_next + kSamples - p.ring_size + k) % kSamples]);
      std::stable_sort(v.history.begin(), v.history.end(),
                       [](const Sample& a, const Sample& b) { return a.ts_ms < b.ts_ms; });
    }
    for (const PointSource& ps : p.sources)
      out.counts.push_back({p.id, sources_[ps.source].label, ps.readings, ps.gaps, ps.last_ts_ms});
    out.points.push_back(std::move(v));
  }
  for (const SourceState& s : sources_)
    out.sources.push_back({s.label, s.last_reading_received_ms, s.readings, s.gaps,
                           s.gaps_day == today ? s.gaps_today : 0});
  return out;
}

}  // namespace mrv::agent
