#include "mrv/report/engine.hpp"

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>

#include "mrv/core/canonical.hpp"
#include "mrv/core/crypto.hpp"
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

  SiteBook book;
  bool sealed = false;             // the site records are in: the tracks exist
  std::vector<std::string> site_record_notes;  // site records that could not be read

  Impl(const Config& c, const MonitoringPeriod& p, ConfigResolver r)
      : config(c), period(p), resolver(std::move(r)) {
    const MonitoringConfig& m = c.monitoring;
    from_ms = p.start_ms - m.boundary_window_ms;
    to_ms = p.end_ms + m.boundary_window_ms;
    credited = credited_ids(m);
  }

  void add_site_record(const RecordFields& r) {
    if (sealed || r.type != RecordType::site_record) return;
    auto record = parse_site_record(r);
    if (!record) {
      site_record_notes.push_back("site record seq " + std::to_string(r.seq) + " cannot be read (" +
                                  record.error().to_string() + "): not used");
      return;
    }
    std::string bytes;
    if (!encode_record(r, bytes)) return;
    book.add({r.seq, to_hex(sha256(bytes)), std::move(*record)});
  }

  // The tracks, made once the site records are in (they decide how readings count).
  void seal() {
    if (sealed) return;
    sealed = true;
    book.seal();
    const Config& c = config;
    const MonitoringConfig& m = c.monitoring;
    const MonitoringPeriod& p = period;
    tracks.resize(m.parameters.size());
    for (size_t i = 0; i < m.parameters.size(); ++i) {
      const MonitoringParameter& param = m.parameters[i];
      tracks[i].reserve(param.points.size());
      for (const std::string& id : param.points)
        tracks[i].emplace_back(param, *c.find_point(id), c.expected_interval_ms(id), p, m.allow_interpolation,
                               PointTrack::Boundaries{m.period_ending_at(p.start_ms) != nullptr,
                                                      m.period_starting_at(p.end_ms) != nullptr},
                               book, from_ms, to_ms, m.time_zone);
    }
    for (auto& per_param : tracks)
      for (auto& t : per_param) by_point[t.point_id()].push_back(&t);
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
    seal();
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
  void aggregate_documents(ParameterReport& p, std::vector<const SiteEntry*>& used) const;
  void explain_gaps(Report& report, std::vector<const SiteEntry*>& used) const;
  void cross_check(Report& report, const std::map<std::string, double>& values) const;
  void count_site_records(Report& report, const std::vector<const SiteEntry*>& used) const;
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
void ReportEngine::add_site_record(const RecordFields& record) { impl_->add_site_record(record); }
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
    double share = pt.correction_magnitude;  // Σ part × its % (the class, or a failed calibration's error)
    if (p.config->aggregation == Aggregation::mean || p.config->aggregation == Aggregation::min ||
        p.config->aggregation == Aggregation::max)
      share = std::abs(p.measured) * pt.correction_percent_sum / 100 /
              static_cast<double>(std::max<uint64_t>(pt.readings, 1));
    magnitude += share;
    classes += (classes.empty() ? "" : ", ") + pt.point_id + " class " +
               (pt.accuracy_class.empty() ? "unknown (100%)" : pt.accuracy_class) +
               (pt.calibration.failed_h > 0 ? " and the error a failed calibration found" : "");
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

// A parameter from recorded documents (monitoring option B): each document's quantity,
// pro rata for the part of its period inside the report's, in the parameter's unit.
void ReportEngine::Impl::aggregate_documents(ParameterReport& p, std::vector<const SiteEntry*>& used) const {
  const MonitoringParameter& c = *p.config;
  const Unit unit = *parse_unit(c.unit);
  std::vector<std::pair<int64_t, int64_t>> covered;
  p.has_data = false;
  for (const SiteEntry* e : book.documents()) {
    const SiteRecord& d = e->record;
    bool mine = d.parameter == c.id || (d.parameter.empty() && !c.document_type.empty() && d.document_type == c.document_type);
    if (!mine || (!c.document_type.empty() && d.document_type != c.document_type)) continue;
    int64_t from = std::max(d.ts_ms, period.start_ms), to = std::min(d.period_to_ms, period.end_ms);
    if (to <= from) continue;
    auto doc_unit = parse_unit(d.unit);
    std::optional<double> quantity;
    if (doc_unit)
      if (auto q = convert(std::stod(d.value), *doc_unit, unit)) quantity = *q;
    used.push_back(e);
    if (!quantity) {
      p.notes.push_back("document seq " + std::to_string(e->seq) + " (" + d.unit + ") does not convert to " + c.unit +
                        ": not used");
      continue;
    }
    double share = static_cast<double>(to - from) / static_cast<double>(d.period_to_ms - d.ts_ms);
    p.measured += *quantity * share;
    p.has_data = true;
    covered.push_back({from, to});
    p.documents.push_back(site_record_use(*e));
    if (share < 1)
      p.notes.push_back("document seq " + std::to_string(e->seq) + " covers " + format_decimal(share * 100, 2) +
                        "% of its period inside this one: counted pro rata");
  }
  std::sort(covered.begin(), covered.end());
  int64_t hours_ms = 0, reach = period.start_ms;
  for (auto [from, to] : covered) {
    from = std::max(from, reach);
    if (to > from) hours_ms += to - from;
    reach = std::max(reach, to);
  }
  p.coverage = static_cast<double>(hours_ms) / static_cast<double>(period.end_ms - period.start_ms);
}

// Notes entered at the site: those about the period go into the report, and a gap they
// cover names them (an outage explained).
void ReportEngine::Impl::explain_gaps(Report& report, std::vector<const SiteEntry*>& used) const {
  for (const SiteEntry* e : book.notes()) {
    const SiteRecord& n = e->record;
    int64_t to = n.to_ms ? n.to_ms : n.ts_ms + 1;
    if (to <= period.start_ms || n.ts_ms >= period.end_ms) continue;
    report.site_notes.push_back(site_record_use(*e));
    used.push_back(e);
    for (ParameterReport& p : report.parameters)
      for (PointReport& pt : p.points)
        for (PointGap& g : pt.gaps)
          if ((n.point.empty() || n.point == pt.point_id) && n.ts_ms < g.to_ms && g.from_ms < to)
            g.explained_by.push_back(e->seq);
  }
}

// The declared cross-checks: two values within a tolerance. A failure is a finding, and
// changes no number.
void ReportEngine::Impl::cross_check(Report& report, const std::map<std::string, double>& values) const {
  auto units = units_of(config.monitoring);
  auto has_data = [&](const std::string& id) {
    for (const ParameterReport& p : report.parameters)
      if (p.config->id == id) return p.has_data;
    return values.count(id) > 0;
  };
  for (const MonitoringCrossCheck& x : config.monitoring.cross_checks) {
    CrossCheckResult r;
    r.config = &x;
    if (values.count(x.value) && has_data(x.value))
      r.value = convert(values.at(x.value), units.at(x.value), units.at(x.reference)).value_or(0);
    if (values.count(x.reference) && has_data(x.reference)) r.reference = values.at(x.reference);
    if (r.value && r.reference) {
      double diff = std::abs(*r.value - *r.reference);
      r.difference_percent = *r.reference != 0 ? diff / std::abs(*r.reference) * 100 : diff == 0 ? 0 : 100;
      r.pass = r.difference_percent <= x.tolerance_percent;
    }
    if (!r.pass)
      report.notes.push_back("cross-check " + x.id + " failed: " +
                             (r.value && r.reference
                                  ? x.value + " " + format_decimal(*r.value) + " against " + x.reference + " " +
                                        format_decimal(*r.reference) + " " + units.at(x.reference).text + " differ by " +
                                        format_decimal(r.difference_percent, 2) + "% (tolerance " +
                                        format_decimal(x.tolerance_percent, 2) + "%)"
                                  : std::string("no data for ") + (r.value ? x.reference : x.value)));
    report.cross_checks.push_back(r);
  }
}

// The site records used count among the report's records (its annex then covers them).
void ReportEngine::Impl::count_site_records(Report& report, const std::vector<const SiteEntry*>& used) const {
  std::set<uint64_t> seqs_used;
  for (const SiteEntry* e : used) seqs_used.insert(e->seq);
  for (uint64_t seq : seqs_used) {
    SeqRange& s = report.seqs;
    s.first = s.records == 0 ? seq : std::min(s.first, seq);
    s.last = std::max(s.last, seq);
    ++s.records;
  }
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
  seal();
  report.seqs = seqs;
  report.notes.insert(report.notes.end(), site_record_notes.begin(), site_record_notes.end());
  std::vector<const SiteEntry*> used;  // site records the report used
  std::map<std::string, double> values;
  for (size_t i = 0; i < m.parameters.size(); ++i) {
    ParameterReport p;
    p.config = &m.parameters[i];
    for (PointTrack& t : tracks[i]) {
      p.points.push_back(t.finish(p.notes));
      used.insert(used.end(), t.site_records_used().begin(), t.site_records_used().end());
    }
    if (p.config->aggregation == Aggregation::documents) aggregate_documents(p, used);
    else aggregate(p);
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
      report.notes.push_back(p.config->id + (p.config->aggregation == Aggregation::documents
                                                 ? ": documents cover " : ": readings cover ") +
                             format_decimal(p.coverage * 100, 1) +
                             (p.config->aggregation == Aggregation::documents ? "% of the period" : "% of those expected"));
    values[p.config->id] = p.value;
    report.parameters.push_back(std::move(p));
  }
  explain_gaps(report, used);
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
  for (const FormulaResult& f : report.results)
    if (f.evaluated) values[f.config->id] = f.value;
  cross_check(report, values);
  count_site_records(report, used);
  report.emission_reductions = *er;
  // ROUNDDOWN of the exact value, as the JCM spreadsheet does: never a tonne more.
  report.credited_tco2 = report.complete && *er > 0 ? static_cast<int64_t>(std::floor(*er)) : 0;
  return report;
}

}  // namespace mrv::report
