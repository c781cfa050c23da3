#include "mrv/report/engine.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "mrv/core/formula.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/core/time_zone.hpp"
#include "mrv/core/units.hpp"
#include "mrv/report/format.hpp"
#include "point_track.hpp"

namespace mrv::report {

const char* to_string(BoundaryValue::How how) {
  switch (how) {
    case BoundaryValue::How::reading: return "reading";
    case BoundaryValue::How::interpolated: return "interpolated";
    case BoundaryValue::How::none: return "none";
  }
  return "?";
}

struct ReportEngine::Impl {
  const Config& config;
  MonitoringPeriod period;
  ConfigResolver resolver;
  int64_t from_ms, to_ms;
  std::vector<std::vector<PointTrack>> tracks;  // per parameter, per point
  std::unordered_map<std::string, std::vector<PointTrack*>> by_point;
  SeqRange seqs;
  std::set<std::string> credited;  // the ids the credited formula uses, directly or through others
  bool unknown_config = false;
  std::string last_hash;  // records mostly name one config: resolve it once
  const Config* last_config = nullptr;

  Impl(const Config& c, const MonitoringPeriod& p, ConfigResolver r)
      : config(c), period(p), resolver(std::move(r)) {
    const MonitoringConfig& m = c.monitoring;
    from_ms = p.start_ms - m.boundary_window_ms;
    to_ms = p.end_ms + m.boundary_window_ms;
    tracks.resize(m.parameters.size());
    for (size_t i = 0; i < m.parameters.size(); ++i) {
      const MonitoringParameter& param = m.parameters[i];
      tracks[i].reserve(param.points.size());
      for (const std::string& id : param.points)
        tracks[i].emplace_back(param, *c.find_point(id), c.expected_interval_ms(id), p, m.allow_interpolation,
                               PointTrack::Boundaries{m.period_ending_at(p.start_ms) != nullptr,
                                                      m.period_starting_at(p.end_ms) != nullptr});
    }
    for (auto& per_param : tracks)
      for (auto& t : per_param) by_point[t.point_id()].push_back(&t);
    credited = credited_ids(m);
  }

  static std::set<std::string> credited_ids(const MonitoringConfig& m);

  const Config& resolve(const std::string& hash) {
    if (last_config && hash == last_hash) return *last_config;
    const Config* c = hash == config.hash_hex ? &config : resolver ? resolver(hash) : nullptr;
    if (!c) unknown_config = true;
    last_hash = hash;
    last_config = c ? c : &config;
    return *last_config;
  }

  void push(const RecordFields& r) {
    if (r.type != RecordType::reading) return;
    const Reading& reading = r.reading;
    if (reading.ts_ms < from_ms || reading.ts_ms >= to_ms) return;
    auto it = by_point.find(reading.point_id);
    if (it == by_point.end()) return;
    if (seqs.records == 0) seqs.first = r.seq;
    seqs.last = r.seq;
    ++seqs.records;
    const Config& record_config = resolve(r.config_hash_hex);
    for (PointTrack* t : it->second) t->push(r, record_config);
  }

  Result<Report> finish();
  Result<double> emission_reductions(const std::map<std::string, double>& values,
                                     std::vector<FormulaResult>* results) const;
  void correct_for_calibration(ParameterReport& p, std::map<std::string, double>& values) const;
  void warn_if_gaps_favour_project(const ParameterReport& p, const std::map<std::string, double>& values,
                                   std::vector<std::string>& notes) const;
};

ReportEngine::ReportEngine(const Config& config, const MonitoringPeriod& period, ConfigResolver resolver)
    : impl_(std::make_unique<Impl>(config, period, std::move(resolver))) {}
ReportEngine::ReportEngine(ReportEngine&&) noexcept = default;
ReportEngine::~ReportEngine() = default;
int64_t ReportEngine::window_from_ms() const { return impl_->from_ms; }
int64_t ReportEngine::window_to_ms() const { return impl_->to_ms; }
void ReportEngine::push(const RecordFields& record) { impl_->push(record); }
Result<Report> ReportEngine::finish() { return impl_->finish(); }

namespace {

std::map<std::string, Unit> units_of(const MonitoringConfig& m) {
  std::map<std::string, Unit> units;
  for (const auto& p : m.parameters) units.emplace(p.id, *parse_unit(p.unit));
  for (const auto& f : m.formulas) units.emplace(f.id, *parse_unit(f.unit));
  return units;
}

// A parameter from its points' shares, as its aggregation says.
void aggregate(ParameterReport& p) {
  const MonitoringParameter& c = *p.config;
  if (c.aggregation == Aggregation::fixed) {
    p.measured = c.value;
    return;
  }
  double weighted = 0, hours = 0;
  bool any = false;
  for (const PointReport& pt : p.points) {
    p.coverage = std::min(p.coverage, pt.coverage);
    switch (c.aggregation) {
      case Aggregation::counter:  // a counter needs a register reading; an integral has its gap rule
        p.measured += pt.value;
        any = any || pt.start.has_value();
        break;
      case Aggregation::integral:
        p.measured += pt.value;
        any = true;
        break;
      case Aggregation::mean:
        if (pt.mean) {
          double h = std::max(pt.covered_h, 1e-9);
          weighted += pt.value * h;
          hours += h;
          any = true;
        }
        break;
      case Aggregation::min:
        if (pt.min) {
          p.measured = any ? std::min(p.measured, pt.value) : pt.value;
          any = true;
        }
        break;
      case Aggregation::max:
        if (pt.max) {
          p.measured = any ? std::max(p.measured, pt.value) : pt.value;
          any = true;
        }
        break;
      case Aggregation::fixed:
      case Aggregation::documents: break;
    }
  }
  if (c.aggregation == Aggregation::mean && hours > 0) p.measured = weighted / hours;
  p.has_data = any;
}

}  // namespace

// The credited formula, and everything it uses (formulas in order: each uses only
// parameters and earlier formulas).
std::set<std::string> ReportEngine::Impl::credited_ids(const MonitoringConfig& m) {
  auto units = units_of(m);
  std::set<std::string> needed{m.emission_reductions};
  for (auto f = m.formulas.rbegin(); f != m.formulas.rend(); ++f) {
    if (!needed.count(f->id)) continue;
    if (auto compiled = Formula::compile(f->expression, units, units.at(f->id)))
      for (const std::string& id : compiled->uses()) needed.insert(id);
  }
  return needed;
}

namespace {

PeriodFacts period_facts(const MonitoringConfig& m, const MonitoringPeriod& period) {
  PeriodFacts f;
  TimeZone zone = TimeZone::locate(m.time_zone).value_or(TimeZone::utc());
  f.time_zone = zone.name();
  f.first_local_date = zone.local_date(period.start_ms);
  f.last_local_date = zone.last_local_date(period.end_ms);
  f.jcm_dates = zone.jcm_date(period.start_ms) + " - " + zone.jcm_date(period.end_ms - 1);
  f.crediting_period = m.crediting_period;
  if (m.crediting_period)
    f.crediting_jcm_dates =
        zone.jcm_date(m.crediting_period->start_ms) + " - " + zone.jcm_date(m.crediting_period->end_ms - 1);
  const MonitoringPeriod* previous = nullptr;
  for (const MonitoringPeriod& p : m.periods)
    if (p.end_ms <= period.start_ms && (!previous || p.end_ms > previous->end_ms)) previous = &p;
  if (previous) {
    f.previous_period = previous->name;
    f.back_to_back = previous->end_ms == period.start_ms;
  }
  if (const MonitoringPeriod* next = m.period_starting_at(period.end_ms)) f.next_period = next->name;
  return f;
}

}  // namespace

Result<double> ReportEngine::Impl::emission_reductions(const std::map<std::string, double>& given,
                                                       std::vector<FormulaResult>* results) const {
  const MonitoringConfig& m = config.monitoring;
  auto units = units_of(m);
  std::map<std::string, double> values = given;
  std::optional<double> er;
  for (const MonitoringFormula& f : m.formulas) {
    auto formula = Formula::compile(f.expression, units, units.at(f.id));
    if (!formula) return tl::unexpected(formula.error());
    auto v = formula->evaluate(values);
    if (!v && !credited.count(f.id)) {  // informational: said, and nothing credited depends on it
      if (results) results->push_back({&f, 0, false});
      continue;
    }
    if (!v) return tl::unexpected(Error{v.error().code, "formula " + f.id, v.error().message});
    values[f.id] = *v;
    if (results) results->push_back({&f, *v});
    if (f.id == m.emission_reductions) er = *convert(*v, units.at(f.id), *parse_unit("tCO2"));
  }
  return er.value_or(0);
}

// The part of a parameter measured out of calibration, moved by the meter's maximum
// permissible error in whichever direction gives the lower emission reductions.
void ReportEngine::Impl::correct_for_calibration(ParameterReport& p, std::map<std::string, double>& values) const {
  double magnitude = 0;
  std::string classes;
  for (const PointReport& pt : p.points) {
    if (pt.out_of_calibration == 0 && pt.out_of_calibration_value == 0) continue;  // a boundary reading counts too
    double percent = accuracy_percent(pt.accuracy_class).value_or(100.0);
    double share = pt.out_of_calibration_value;
    if (p.config->aggregation == Aggregation::mean || p.config->aggregation == Aggregation::min ||
        p.config->aggregation == Aggregation::max)
      share = std::abs(p.measured) * static_cast<double>(pt.out_of_calibration) /
              static_cast<double>(std::max<uint64_t>(pt.readings, 1));
    magnitude += std::abs(share) * percent / 100.0;
    classes += (classes.empty() ? "" : ", ") + pt.point_id + " class " +
               (pt.accuracy_class.empty() ? "unknown (100%)" : pt.accuracy_class);
  }
  if (magnitude == 0) return;
  auto er_with = [&](double v) {
    auto copy = values;
    copy[p.config->id] = v;
    auto er = emission_reductions(copy, nullptr);
    return er ? *er : std::numeric_limits<double>::infinity();
  };
  double up = er_with(p.measured + magnitude), down = er_with(p.measured - magnitude);
  p.correction = up < down ? magnitude : -magnitude;
  p.value = p.measured + p.correction;
  values[p.config->id] = p.value;
  p.notes.push_back("out of calibration: " + classes + "; " + format_decimal(p.correction) + " " + p.config->unit +
                    " applied against the project" + (up == down ? " (it does not change the emission reductions)" : ""));
}

// A gap lowers a measured parameter (nothing counted, or a substitute). For a parameter
// whose growth lowers the emission reductions (a project's own consumption), that is in
// the project's favour: the report says so, so the rule gets a second look.
void ReportEngine::Impl::warn_if_gaps_favour_project(const ParameterReport& p, const std::map<std::string, double>& values,
                                                     std::vector<std::string>& notes) const {
  double gap_hours = 0;
  for (const PointReport& pt : p.points) gap_hours += pt.gap_hours;
  if (gap_hours <= 0 || p.config->aggregation == Aggregation::fixed) return;
  auto copy = values;
  auto base = emission_reductions(copy, nullptr);
  copy[p.config->id] = p.value + std::max(std::abs(p.value), 1.0) * 0.01;
  auto more = emission_reductions(copy, nullptr);
  if (base && more && *more < *base)
    notes.push_back(p.config->id + ": its gaps (" + format_decimal(gap_hours, 2) +
                    " h) lower it, and a lower " + p.config->id +
                    " raises the emission reductions: its gap rule is not conservative; review it");
}

Result<Report> ReportEngine::Impl::finish() {
  const MonitoringConfig& m = config.monitoring;
  Report report;
  report.site_id = config.site_id;
  report.config_hash_hex = config.hash_hex;
  report.config_text = config.text;
  report.monitoring = &m;
  report.period = period;
  report.period_facts = period_facts(m, period);
  if (!report.period_facts.previous_period.empty() && !report.period_facts.back_to_back)
    report.notes.push_back("the period does not follow '" + report.period_facts.previous_period +
                           "' back to back: the time between them is in no period");
  report.window_from_ms = from_ms;
  report.window_to_ms = to_ms;
  report.seqs = seqs;
  std::map<std::string, double> values;
  for (size_t i = 0; i < m.parameters.size(); ++i) {
    ParameterReport p;
    p.config = &m.parameters[i];
    for (PointTrack& t : tracks[i]) p.points.push_back(t.finish(p.notes));
    aggregate(p);
    p.value = p.measured;
    p.informational = !credited.count(p.config->id);
    if (!p.has_data && p.informational) {
      report.notes.push_back(p.config->id + ": no usable reading in the period; it is informational (the credited " +
                             m.emission_reductions + " does not use it), so the credits do not depend on it");
    } else if (!p.has_data) {
      report.complete = false;
      report.notes.push_back(p.config->id + ": no usable reading in the period; nothing is credited");
    }
    if (p.config->aggregation != Aggregation::fixed && p.coverage < 0.999)
      report.notes.push_back(p.config->id + ": readings cover " + format_decimal(p.coverage * 100, 1) +
                             "% of those expected");
    values[p.config->id] = p.value;
    report.parameters.push_back(std::move(p));
  }
  for (ParameterReport& p : report.parameters) correct_for_calibration(p, values);
  for (const ParameterReport& p : report.parameters) warn_if_gaps_favour_project(p, values, report.notes);
  if (unknown_config)
    report.notes.push_back("some records name a config not at hand: the report's config stood in for their meter "
                           "serial and calibration");
  auto er = emission_reductions(values, &report.results);
  if (!er) return tl::unexpected(er.error());
  for (const FormulaResult& f : report.results)
    if (!f.evaluated)
      report.notes.push_back(f.config->id + ": could not be evaluated (" + f.config->expression +
                             "); it is informational: the credited " + m.emission_reductions + " does not use it");
  report.emission_reductions = *er;
  // ROUNDDOWN of the exact value, as the JCM spreadsheet does: never a tonne more.
  report.credited_tco2 = report.complete && *er > 0 ? static_cast<int64_t>(std::floor(*er)) : 0;
  return report;
}

}  // namespace mrv::report
