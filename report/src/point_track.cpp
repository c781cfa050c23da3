#include "point_track.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include "mrv/core/time_text.hpp"
#include "mrv/core/time_zone.hpp"
#include "mrv/report/engine.hpp"
#include "mrv/report/format.hpp"

namespace mrv::report {
namespace {

constexpr double kMsPerHour = 3'600'000.0;

// The factor from what the aggregation makes of a point's unit to the parameter's unit
// (units were checked to match when the config was loaded).
double to_parameter_factor(Aggregation a, Unit point, const Unit& parameter) {
  if (a == Aggregation::integral) point.dimension[1] += 1;  // × hours (time's base unit)
  return convert(1.0, point, parameter).value_or(1.0);
}

double overlap_h(int64_t from, int64_t to, const MonitoringPeriod& p) {
  int64_t a = std::max(from, p.start_ms), b = std::min(to, p.end_ms);
  return b > a ? static_cast<double>(b - a) / kMsPerHour : 0.0;
}

const char* rule_name(GapRule r) { return r == GapRule::substitute ? "substitute" : "zero"; }

// Of the readings either side of a shared boundary, the closer; a tie goes to the one
// before, so the periods on both sides make the same choice.
bool closer_before(int64_t before_ms, int64_t after_ms, int64_t boundary_ms) {
  return boundary_ms - before_ms <= after_ms - boundary_ms;
}

}  // namespace

PointTrack::PointTrack(const MonitoringParameter& parameter, const PointConfig& point, int64_t interval_ms,
                       const MonitoringPeriod& period, bool allow_interpolation, Boundaries boundaries,
                       const SiteBook& book, int64_t window_from_ms, int64_t window_to_ms, const std::string& time_zone)
    : parameter_(parameter),
      point_(point),
      point_unit_(*parse_unit(point.unit)),
      parameter_unit_(*parse_unit(parameter.unit)),
      period_(period),
      allow_interpolation_(allow_interpolation),
      boundaries_(boundaries),
      time_zone_(time_zone),
      book_(book),
      exchanges_(book.of_point(point.id, SiteRecordKind::meter_exchange)),
      counter_(point.rollover_at),
      days_(time_zone, period.start_ms, period.end_ms),
      gauge_(period.start_ms, period.end_ms, static_cast<int64_t>(kGapIntervals * static_cast<double>(interval_ms)),
             parameter.gap_rule, parameter.substitute, days_.midnights()) {
  out_.point_id = point.id;
  out_.unit = point.unit;
  out_.meter_serial = point.meter_serial;
  out_.accuracy_class = point.accuracy_class;
  out_.calibration_valid_until = point.calibration_valid_until;
  out_.interval_ms = interval_ms;
  out_.gap_limit_ms = static_cast<int64_t>(kGapIntervals * static_cast<double>(interval_ms));
  out_.expected_readings = interval_ms > 0 ? static_cast<uint64_t>((period.end_ms - period.start_ms) / interval_ms) : 0;
  out_.chart.resize(kChartBuckets);
  for (size_t i = 0; i < kChartBuckets; ++i)
    out_.chart[i].from_ms = period.start_ms + static_cast<int64_t>(static_cast<double>(period.end_ms - period.start_ms) *
                                                                   static_cast<double>(i) / kChartBuckets);
  prepare_site_samples(window_from_ms, window_to_ms);
}

// Manual readings and recorded exchanges of this point in the window, as readings in time
// order: they go in among the meter's own readings as those pass their time.
void PointTrack::prepare_site_samples(int64_t window_from_ms, int64_t window_to_ms) {
  auto in_window = [&](const SiteEntry* e) { return e->record.ts_ms >= window_from_ms && e->record.ts_ms < window_to_ms; };
  for (const SiteEntry* e : book_.of_point(point_.id, SiteRecordKind::manual_reading)) {
    if (!in_window(e)) continue;
    auto value = value_in_point_unit(e->record.value, e->record.unit);
    if (!value) continue;  // a unit that does not convert: said at finish as unused
    site_samples_.push_back({{e->seq, e->record.ts_ms, *value, e->record.meter_serial}, e, false});
  }
  for (const SiteEntry* e : book_.of_point(point_.id, SiteRecordKind::meter_exchange)) {
    if (!in_window(e)) continue;
    const SiteRecord& x = e->record;
    auto old_final = value_in_point_unit(format_decimal(x.old_final, 9), x.unit);
    auto new_initial = value_in_point_unit(format_decimal(x.new_initial, 9), x.unit);
    if (!old_final || !new_initial) continue;
    site_samples_.push_back({{e->seq, x.ts_ms, *old_final, x.old_serial}, e, false});
    site_samples_.push_back({{e->seq, x.ts_ms, *new_initial, x.new_serial}, e, true});
  }
  std::stable_sort(site_samples_.begin(), site_samples_.end(),
                   [](const SiteSample& a, const SiteSample& b) { return a.reading.ts_ms < b.reading.ts_ms; });
}

const std::string& PointTrack::serial_at(const std::string& config_serial, int64_t ts_ms) const {
  const std::string* serial = &config_serial;
  for (const SiteEntry* e : exchanges_) {
    if (e->record.ts_ms > ts_ms) break;
    if (*serial == e->record.old_serial) serial = &e->record.new_serial;
  }
  return *serial;
}

const CalibrationHistory& PointTrack::history_of(const std::string& serial) {
  if (last_history_ && serial == last_history_serial_) return *last_history_;  // per reading: no map lookup
  auto it = histories_.find(serial);
  if (it != histories_.end()) {
    last_history_serial_ = serial;
    return *(last_history_ = &it->second);
  }
  std::vector<const SiteEntry*> calibrations;
  for (const SiteEntry* e : book_.of_point(point_.id, SiteRecordKind::calibration))
    if (e->record.meter_serial == serial) calibrations.push_back(e);
  // The config's date belongs to the meter the config names.
  int64_t config_until = serial == meter_config_serial_ ? calibration_end_ms_ : 0;
  last_history_serial_ = serial;
  return *(last_history_ = &histories_.try_emplace(serial, calibrations, permissible_percent_, config_until).first->second);
}

void PointTrack::inject_site_samples_before(int64_t ts_ms) {
  while (next_site_sample_ < site_samples_.size() && site_samples_[next_site_sample_].reading.ts_ms < ts_ms) {
    const SiteSample& site = site_samples_[next_site_sample_++];
    const int64_t ts = site.reading.ts_ms;
    bool in_period = ts >= period_.start_ms && ts < period_.end_ms;
    if (site.entry->record.kind == SiteRecordKind::manual_reading) {
      // A manual reading must name the meter the point had then, or it is not this meter's.
      const std::string& expected = serial_at(meter_serial_, ts);
      if (!expected.empty() && site.reading.meter_serial != expected) {
        rejected_manual_.push_back({site.entry, expected});
        used_.push_back(site.entry);  // it makes a note: a verifier needs it to recompute the report
        continue;
      }
      out_.manual_readings += in_period;
    }
    Sample s{site.reading, correction_percent_at(ts, site.reading.meter_serial), false};
    s.out_of_calibration = s.correction_percent > 0;
    if (std::find(used_.begin(), used_.end(), site.entry) == used_.end()) used_.push_back(site.entry);
    accept(s, in_period, site.same_instant);
  }
}

std::optional<double> PointTrack::value_in_point_unit(const std::string& value, const std::string& unit) {
  double v = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
  if (unit.empty() || unit == point_.unit) return v;
  if (unit != last_unit_) {
    last_unit_ = unit;
    auto u = parse_unit(unit);
    last_unit_factor_ = u ? convert(1.0, *u, point_unit_).map([](double f) { return std::optional<double>(f); })
                                .value_or(std::nullopt)
                          : std::nullopt;
  }
  if (!last_unit_factor_) return std::nullopt;
  return v * *last_unit_factor_;
}

// The meter serial and calibration date of the config the record was made under.
void PointTrack::use_meter_of(const Config& record_config) {
  if (&record_config == meter_config_) return;
  meter_config_ = &record_config;
  const PointConfig* p = record_config.find_point(point_.id);
  use_point(p ? *p : point_);
}

void PointTrack::use_point(const PointConfig& point) {
  const PointConfig* p = &point;
  meter_serial_ = p->meter_serial;
  meter_config_serial_ = p->meter_serial;
  permissible_percent_ = accuracy_percent(p->accuracy_class).value_or(100.0);
  calibration_end_ms_ = 0;
  if (!p->calibration_valid_until.empty()) {  // valid through that local day
    TimeZone zone = TimeZone::locate(time_zone_).value_or(TimeZone::utc());
    if (auto day = zone.midnight_ms(p->calibration_valid_until))
      calibration_end_ms_ = *zone.midnight_ms(zone.local_date(*day + 36 * 3'600'000LL));
  }
  histories_.clear();
  last_history_ = nullptr;
}

void PointTrack::push(const RecordFields& record, const Config& record_config) {
  const Reading& r = record.reading;
  bool in_period = r.ts_ms >= period_.start_ms && r.ts_ms < period_.end_ms;
  if (r.quality != Quality::good || r.value.empty()) {
    out_.excluded_quality += in_period;
    return;
  }
  auto value = value_in_point_unit(r.value, r.unit);
  if (!value) {
    out_.excluded_unit += in_period;
    return;
  }
  use_meter_of(record_config);
  inject_site_samples_before(r.ts_ms);
  if (r.ts_ms <= last_ts_) {
    ++out_.out_of_order;
    return;
  }
  const std::string& serial = serial_at(meter_serial_, r.ts_ms);
  Sample s{{record.seq, r.ts_ms, *value, serial}, correction_percent_at(r.ts_ms, serial), false};
  s.out_of_calibration = s.correction_percent > 0;
  out_.unsynchronised += in_period && r.time_source == TimeSource::agent && record.received.sync == ClockSync::unsynchronised;
  accept(s, in_period, false);
}

// A reading (the meter's or a person's) in time order.
void PointTrack::accept(Sample s, bool in_period, bool same_instant) {
  const int64_t ts = s.reading.ts_ms;
  if (ts < last_ts_ || (ts == last_ts_ && !same_instant)) {
    ++out_.out_of_order;
    return;
  }
  last_ts_ = ts;
  if (in_period) {
    ++out_.readings;
    out_.out_of_calibration += s.out_of_calibration;
    if (s.out_of_calibration) out_.correction_percent_sum += s.correction_percent;
    chart(s);
    DayValue& day = days_.at(ts);
    ++day.readings;
    if (parameter_.aggregation != Aggregation::counter) {  // a counter's: those counted (counter_push)
      if (!day.first) day.first = s.reading;
      day.last = s.reading;
    }
  }
  if (parameter_.aggregation == Aggregation::counter) counter_reading(s);
  else gauge_.push({s.reading.seq, ts, s.reading.value, s.out_of_calibration, s.correction_percent});
}

// Calibration coverage of the period, piece by piece between recorded exchanges (each
// meter by its own calibrations).
void PointTrack::fill_calibration(PointReport& out) {
  CalibrationCoverage& c = out.calibration;
  std::vector<int64_t> cuts{period_.start_ms};
  for (const SiteEntry* e : book_.of_point(point_.id, SiteRecordKind::meter_exchange))
    if (e->record.ts_ms > period_.start_ms && e->record.ts_ms < period_.end_ms) cuts.push_back(e->record.ts_ms);
  cuts.push_back(period_.end_ms);
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    const CalibrationHistory& h = history_of(serial_at(meter_config_serial_, cuts[i]));
    c.stated = c.stated || h.stated();
    auto piece = h.coverage(cuts[i], cuts[i + 1]);
    c.covered_h += piece.covered_h;
    c.failed_h += piece.failed_h;
    c.expired_h += piece.expired_h;
  }
  double hours = static_cast<double>(period_.end_ms - period_.start_ms) / kMsPerHour;
  c.coverage = hours > 0 ? c.covered_h / hours : 0;
  // The calibrations that decide it: every one before the period's end, and the first
  // after it (a failure found then reaches back into the period).
  bool after_end = false;
  for (const SiteEntry* e : book_.of_point(point_.id, SiteRecordKind::calibration)) {
    if (e->record.ts_ms >= period_.end_ms) {
      if (after_end) break;
      after_end = true;
    }
    c.calibrations.push_back(site_record_use(*e));
    if (std::find(used_.begin(), used_.end(), e) == used_.end()) used_.push_back(e);
  }
  for (const SiteEntry* e : book_.of_point(point_.id, SiteRecordKind::meter_exchange)) {
    if (std::find(used_.begin(), used_.end(), e) != used_.end()) out.exchanges.push_back(site_record_use(*e));
    else if (e->record.ts_ms < period_.end_ms) used_.push_back(e);  // earlier: it says which meter the readings are from
  }
}

void PointTrack::chart(const Sample& s) {
  double span = static_cast<double>(period_.end_ms - period_.start_ms);
  auto i = static_cast<size_t>(static_cast<double>(s.reading.ts_ms - period_.start_ms) / span * kChartBuckets);
  ChartBucket& b = out_.chart[std::min(i, kChartBuckets - 1)];
  double v = s.reading.value;
  b.min = b.readings ? std::min(b.min, v) : v;
  b.max = b.readings ? std::max(b.max, v) : v;
  b.last = v;
  ++b.readings;
}

// A counter's readings: the latest before the period (a start candidate), those inside
// it, and the first after it (an end candidate); nothing later matters.
void PointTrack::counter_reading(const Sample& s) {
  if (ended_) return;
  if (s.reading.ts_ms < period_.start_ms) {
    before_start_ = s;
    return;
  }
  if (!started_) {
    started_ = true;
    choose_start(s);
  }
  if (s.reading.ts_ms < period_.end_ms) {
    counter_push(s);
    return;
  }
  ended_ = true;
  choose_end(s);
}

void PointTrack::counter_push(const Sample& s) {
  std::optional<PointGap> gap;
  if (last_pushed_ && s.reading.ts_ms - last_pushed_->reading.ts_ms > out_.gap_limit_ms)
    gap = PointGap{last_pushed_->reading.ts_ms, s.reading.ts_ms, "register difference", 0, false, {}};
  size_t events = counter_.result().events.size();
  double added = counter_.push(s.reading);
  // Into the day of its time; a boundary reading outside the period into the edge day.
  DayValue& day = days_.at(std::clamp(s.reading.ts_ms, period_.start_ms, period_.end_ms - 1));
  day.value += added;
  if (!day.first) day.first = s.reading;
  day.last = s.reading;
  if (s.out_of_calibration) {
    out_.out_of_calibration_value += added;
    out_.correction_magnitude += std::abs(added) * s.correction_percent / 100;
  }
  if (gap) {
    gap->over_break = counter_.result().events.size() > events &&
                      counter_.result().events.back().kind != CounterBreak::rollover;
    out_.gaps.push_back(*gap);
  }
  last_pushed_ = s;
  if (s.reading.seq != 0) last_real_ = s;  // seq 0: an interpolated boundary value
}

std::optional<PointTrack::Sample> PointTrack::interpolate(const Sample& before, const Sample& after,
                                                         int64_t at_ms) const {
  const CounterReading &b = before.reading, &a = after.reading;
  if (b.meter_serial != a.meter_serial || a.value < b.value || !(b.ts_ms < at_ms && at_ms < a.ts_ms))
    return std::nullopt;  // a break between them: no straight line to draw
  double fraction = static_cast<double>(at_ms - b.ts_ms) / static_cast<double>(a.ts_ms - b.ts_ms);
  return Sample{{0, at_ms, b.value + (a.value - b.value) * fraction, a.meter_serial}, after.correction_percent,
                after.out_of_calibration};
}

BoundaryValue PointTrack::boundary_at(const Sample& s, int64_t boundary_ms) const {
  BoundaryValue v;
  v.how = BoundaryValue::How::reading;
  v.boundary_ms = boundary_ms;
  v.value = s.reading.value;
  v.reading = s.reading;
  v.distance_ms = s.reading.ts_ms - boundary_ms;
  v.far = std::abs(v.distance_ms) > out_.gap_limit_ms;
  return v;
}

// The start register: the value interpolated between the readings either side when the
// config allows it; else at a shared start the reading closest to it, and at a start no
// period shares the first reading inside the period.
void PointTrack::choose_start(const Sample& first_after) {
  const int64_t start = period_.start_ms;
  if (before_start_) {
    const Sample& b = *before_start_;
    if (allow_interpolation_)
      if (auto at = interpolate(b, first_after, start)) {
        counter_push(*at);
        last_real_ = b;
        out_.start = BoundaryValue{BoundaryValue::How::interpolated, start, at->reading.value, 0, {}, b.reading,
                                   first_after.reading, false};
        return;
      }
    if (boundaries_.start_shared && closer_before(b.reading.ts_ms, first_after.reading.ts_ms, start)) {
      counter_push(b);
      out_.start = boundary_at(b, start);
      return;
    }
  }
  out_.start = boundary_at(first_after, start);  // pushed by the caller
}

void PointTrack::choose_end(const Sample& first_after) {
  const int64_t end = period_.end_ms;
  if (!last_real_) {  // the first reading the period has is this one, after its end
    counter_push(first_after);
    out_.end = boundary_at(first_after, end);
    return;
  }
  const Sample last = *last_real_;
  if (allow_interpolation_)
    if (auto at = interpolate(last, first_after, end)) {
      counter_push(*at);
      out_.end = BoundaryValue{BoundaryValue::How::interpolated, end, at->reading.value, 0, {}, last.reading,
                               first_after.reading, false};
      return;
    }
  // A reading exactly at the end counted nothing after it; one later only at a shared end.
  bool take_after = first_after.reading.ts_ms == end ||
                    (boundaries_.end_shared && !closer_before(last.reading.ts_ms, first_after.reading.ts_ms, end));
  if (take_after) {
    counter_push(first_after);
    out_.end = boundary_at(first_after, end);
  } else {
    out_.end = boundary_at(last, end);
  }
}

// What a break without a record loses, at the mean rate of the counted segments.
std::string PointTrack::lost_estimate(const CounterEvent& e) const {
  double counted = 0, hours = 0;
  for (const CounterSegment& s : counter_.result().segments) {
    counted += s.counted;
    hours += static_cast<double>(s.last.ts_ms - s.first.ts_ms) / kMsPerHour;
  }
  if (hours <= 0) return "unknown";
  double lost = counted / hours * static_cast<double>(e.after.ts_ms - e.before.ts_ms) / kMsPerHour;
  return "about " + format_decimal(lost, 3) + " " + point_.unit;
}

void PointTrack::finish_counter(PointReport& out, std::vector<std::string>& notes) {
  if (!started_ && before_start_) {  // only a reading before the period: nothing counted in it
    counter_push(*before_start_);
    out_.start = boundary_at(*before_start_, period_.start_ms);
  }
  if (!ended_ && last_real_) out_.end = boundary_at(*last_real_, period_.end_ms);
  out = out_;
  const double factor = to_parameter_factor(parameter_.aggregation, point_unit_, parameter_unit_);
  const CounterTotal& total = counter_.result();
  out.value = total.total * factor;
  out.out_of_calibration_value = out_.out_of_calibration_value * factor;
  out.correction_magnitude = out_.correction_magnitude * factor;
  out.segments = total.segments;
  out.events = total.events;
  out.days = days_.days();
  for (DayValue& d : out.days) d.value *= factor;
  const std::string& id = point_.id;
  if (!out.start) {
    notes.push_back(id + ": no reading within the boundary window of the period: nothing counted");
    return;
  }
  auto say_boundary = [&](const BoundaryValue& b, const char* which) {
    if (b.how == BoundaryValue::How::interpolated)
      notes.push_back(id + ": " + which + " register " + format_decimal(b.value) + " " + point_.unit +
                      " interpolated at " + format_time(b.boundary_ms) + " between the readings at " +
                      format_time(b.before.ts_ms) + " and " + format_time(b.after.ts_ms) +
                      " (allowed by allow_interpolation)");
    else if (b.far)
      notes.push_back(id + ": " + which + " register read " + format_duration(std::abs(b.distance_ms)) +
                      (b.distance_ms < 0 ? " before " : " after ") + "the boundary " + format_time(b.boundary_ms) +
                      ": no reading closer to it" + (allow_interpolation_ ? "" : " (interpolation not allowed)"));
  };
  say_boundary(*out.start, "start");
  say_boundary(*out.end, "end");
  if (out.start->reading.seq == out.end->reading.seq && out.start->how == BoundaryValue::How::reading)
    notes.push_back(id + ": start and end are the same reading: nothing counted");
  for (const CounterEvent& e : out.events) {
    std::string between = format_time(e.before.ts_ms) + " (" + format_decimal(e.before.value) + ") and " +
                          format_time(e.after.ts_ms) + " (" + format_decimal(e.after.value) + ")";
    if (e.kind == CounterBreak::rollover)
      notes.push_back(id + ": register rolled over at " + format_decimal(*point_.rollover_at) + " between " +
                      between + "; counted across the wrap");
    else if (e.kind == CounterBreak::reset)
      notes.push_back(id + ": register reset between " + between +
                      "; what the meter counted between them before the reset is not credited");
    else if (e.before.seq == e.after.seq && e.before.ts_ms == e.after.ts_ms)
      notes.push_back(id + ": meter exchange recorded (seq " + std::to_string(e.after.seq) + "): " + e.before.meter_serial +
                      " final " + format_decimal(e.before.value) + " -> " + e.after.meter_serial + " initial " +
                      format_decimal(e.after.value) + " at " + format_time(e.after.ts_ms) + "; counted across it");
    else
      notes.push_back(id + ": meter exchanged (serial " + (e.before.meter_serial.empty() ? "none" : e.before.meter_serial) +
                      " -> " + (e.after.meter_serial.empty() ? "none" : e.after.meter_serial) + ") between " + between +
                      " without a recorded exchange; what either meter counted in those " +
                      format_duration(e.after.ts_ms - e.before.ts_ms) + " is not credited (at the period's mean rate, " +
                      lost_estimate(e) + "); record the exchange (mrv-agent record meter-exchange) to count it");
  }
  // The period's ends without a reading near them: nothing was counted there.
  const int64_t half_limit = out.gap_limit_ms / 2;
  if (out.start->how == BoundaryValue::How::reading && out.start->reading.ts_ms - period_.start_ms > half_limit)
    out.gaps.insert(out.gaps.begin(), PointGap{period_.start_ms, std::min(out.start->reading.ts_ms, period_.end_ms),
                                               "not counted (no reading)", 0, false, {}});
  if (out.end->how == BoundaryValue::How::reading && period_.end_ms - out.end->reading.ts_ms > half_limit)
    out.gaps.push_back(PointGap{std::max(out.end->reading.ts_ms, period_.start_ms), period_.end_ms,
                                "not counted (no reading)", 0, false, {}});
  for (PointGap& g : out.gaps) {
    out.gap_hours += overlap_h(g.from_ms, g.to_ms, period_);
    if (g.over_break)
      notes.push_back(id + ": a register break happened during the gap from " + format_time(g.from_ms) + " to " +
                      format_time(g.to_ms) + "; the energy counted in the gap before it is lost (not credited)");
  }
  size_t edges = 0;
  for (const PointGap& g : out.gaps) edges += g.rule != "register difference";
  if (out.gaps.size() > edges)
    notes.push_back(id + ": " + std::to_string(out.gaps.size() - edges) +
                    " gap(s) between readings; counted by register difference: no energy is lost across them");
  if (edges)
    notes.push_back(id + ": no reading near " + (edges == 2 ? "either end" : "one end") +
                    " of the period: what the meter counted there is not in the period's value");
  out.covered_h = std::max(0.0, static_cast<double>(period_.end_ms - period_.start_ms) / kMsPerHour - out.gap_hours);
}

void PointTrack::finish_gauge(PointReport& out, std::vector<std::string>& notes) {
  out = out_;
  GaugeSummary s = gauge_.finish();
  const double factor = to_parameter_factor(parameter_.aggregation, point_unit_, parameter_unit_);
  out.mean = s.mean;
  out.min = s.min;
  out.max = s.max;
  out.covered_h = s.covered_h;
  switch (parameter_.aggregation) {
    case Aggregation::integral:
      out.value = s.integral * factor;
      out.out_of_calibration_value = s.out_of_calibration * factor;
      out.correction_magnitude = s.correction * factor;
      break;
    case Aggregation::mean: out.value = s.mean.value_or(0) * factor; break;
    case Aggregation::min: out.value = s.min.value_or(0) * factor; break;
    case Aggregation::max: out.value = s.max.value_or(0) * factor; break;
    default: break;
  }
  fill_days_gauge(out, s, factor);
  const char* rule = parameter_.aggregation == Aggregation::integral ? rule_name(parameter_.gap_rule) : "excluded";
  for (const GaugeGap& g : s.gaps) {
    out.gaps.push_back({g.from_ms, g.to_ms, rule, parameter_.aggregation == Aggregation::integral ? g.counted * factor : 0, false, {}});
    out.gap_hours += overlap_h(g.from_ms, g.to_ms, period_);
  }
  if (!out.gaps.empty()) {
    std::string how = parameter_.aggregation != Aggregation::integral
                          ? "left out of the " + std::string(parameter_.aggregation == Aggregation::mean ? "mean" : "extreme")
                      : parameter_.gap_rule == GapRule::zero
                          ? "counted as zero"
                          : "counted at the substitute " + format_decimal(parameter_.substitute) + " " + point_.unit;
    notes.push_back(point_.id + ": " + std::to_string(out.gaps.size()) + " gap(s), " + format_decimal(out.gap_hours, 2) +
                    " h in the period; " + how);
  }
  if (s.readings == 0) notes.push_back(point_.id + ": no reading in the period");
}

// The days as the gauge cut them (at the same midnights as days_).
void PointTrack::fill_days_gauge(PointReport& out, const GaugeSummary& s, double factor) const {
  out.days = days_.days();
  for (size_t i = 0; i < out.days.size() && i < s.days.size(); ++i) {
    DayValue& d = out.days[i];
    const GaugeDay& g = s.days[i];
    if (parameter_.aggregation == Aggregation::integral) d.value = g.integral * factor;
    d.mean = g.mean;
    d.min = g.min;
    d.max = g.max;
  }
}

PointReport PointTrack::finish(std::vector<std::string>& notes) {
  if (!meter_config_) use_point(point_);  // no reading of the meter's own: the report's config
  inject_site_samples_before(std::numeric_limits<int64_t>::max());
  PointReport out;
  if (parameter_.aggregation == Aggregation::counter) finish_counter(out, notes);
  else finish_gauge(out, notes);
  fill_calibration(out);
  for (const PointGap& g : out.gaps) add_gap_hours(out.days, g.from_ms, g.to_ms);
  for (const RejectedManual& m : rejected_manual_)
    notes.push_back(point_.id + ": the manual reading seq " + std::to_string(m.entry->seq) + " names meter " +
                    m.entry->record.meter_serial + ", but the point's meter then was " + m.expected_serial +
                    ": not used");
  if (out.manual_readings)
    notes.push_back(point_.id + ": " + std::to_string(out.manual_readings) + " manual reading(s) entered at the site used");
  out.coverage = out.expected_readings
                     ? std::min(1.0, static_cast<double>(out.readings) / static_cast<double>(out.expected_readings))
                     : 0.0;
  if (out.out_of_calibration)
    notes.push_back(point_.id + ": " + std::to_string(out.out_of_calibration) +
                    " reading(s) not covered by a passing calibration (config: valid until " +
                    (out.calibration_valid_until.empty() ? std::string("-") : out.calibration_valid_until) + "; " +
                    std::to_string(out.calibration.calibrations.size()) + " calibration(s) recorded)");
  const CalibrationCoverage& c = out.calibration;
  if (!c.stated)
    notes.push_back(point_.id + ": no calibration recorded or configured: calibration coverage unknown");
  else if (c.coverage < 0.99995)
    notes.push_back(point_.id + ": calibration covers " + format_decimal(c.coverage * 100, 2) + "% of the period (" +
                    format_decimal(c.failed_h, 2) + " h under a failed calibration, " + format_decimal(c.expired_h, 2) +
                    " h expired)");
  if (out.out_of_order) notes.push_back(point_.id + ": " + std::to_string(out.out_of_order) + " reading(s) out of time order ignored");
  if (out.excluded_quality) notes.push_back(point_.id + ": " + std::to_string(out.excluded_quality) + " reading(s) without good quality or a value excluded");
  if (out.excluded_unit) notes.push_back(point_.id + ": " + std::to_string(out.excluded_unit) + " reading(s) in a unit that does not convert excluded");
  return out;
}

}  // namespace mrv::report
