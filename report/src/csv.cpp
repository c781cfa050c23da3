#include "mrv/report/csv.hpp"

#include "mrv/report/format.hpp"

namespace mrv::report {
namespace {

std::string field(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

void row(std::string& out, std::initializer_list<std::string> fields) {
  bool first = true;
  for (const std::string& f : fields) {
    if (!first) out += ',';
    out += field(f);
    first = false;
  }
  out += "\r\n";
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : separator) + p;
  return s;
}

std::string measurement_method(const ParameterReport& p) {
  std::vector<std::string> meters;
  for (const PointReport& pt : p.points) {
    std::string m = pt.point_id + ": meter " + (pt.meter_serial.empty() ? "(serial not configured)" : pt.meter_serial);
    if (!pt.accuracy_class.empty()) m += ", class " + pt.accuracy_class;
    if (!pt.calibration_valid_until.empty()) m += ", calibrated until " + pt.calibration_valid_until;
    const CalibrationCoverage& c = pt.calibration;
    if (c.stated)
      m += ", calibration covers " + format_decimal(c.coverage * 100, 2) + "% of the period (" +
           std::to_string(c.calibrations.size()) + " calibration(s) recorded)";
    for (const SiteRecordUse& cal : c.calibrations) m += "; calibration seq " + std::to_string(cal.seq) + ": " + cal.summary;
    for (const SiteRecordUse& x : pt.exchanges) m += "; meter exchange seq " + std::to_string(x.seq) + ": " + x.summary;
    meters.push_back(m);
  }
  return join(meters, "; ") + "; readings signed at the site and sent to the registry automatically";
}

std::string frequency(const ParameterReport& p) {
  int64_t interval = p.points.empty() ? 0 : p.points.front().interval_ms;
  return "continuously (every " + format_duration(interval) + ")";
}

}  // namespace

std::string render_csv(const Report& r) {
  std::string out;
  const std::string period = r.period.name + " (" + r.period_facts.jcm_dates + ", " + r.period_facts.time_zone + "; " +
                             format_time(r.period.start_ms) + " to " + format_time(r.period.end_ms) + ")";
  row(out, {"monitoring period", "monitoring point", "parameter", "description", "value", "unit", "monitoring option",
            "source of data", "measurement method", "monitoring frequency", "comments"});
  for (const ParameterReport& p : r.parameters) {
    const MonitoringParameter& c = *p.config;
    std::vector<std::string> points, comments = p.notes;
    for (const PointReport& pt : p.points) points.push_back(pt.point_id);
    if (c.aggregation == Aggregation::documents) {
      std::vector<std::string> documents;
      for (const SiteRecordUse& d : p.documents) documents.push_back("seq " + std::to_string(d.seq) + ": " + d.summary);
      row(out, {period, "-", c.id, c.description, p.has_data ? format_decimal(p.value) : "", c.unit, c.monitoring_option,
                join(documents, "; "), "sum of recorded documents, pro rata for the period",
                "per document", join(comments, "; ")});
      continue;
    }
    if (c.aggregation == Aggregation::fixed) {
      row(out, {period, "-", c.id, c.description, format_decimal(p.value), c.unit, c.monitoring_option, c.source,
                "-", "fixed ex ante", join(comments, "; ")});
      continue;
    }
    comments.insert(comments.begin(), "coverage " + format_decimal(p.coverage * 100, 2) + "%");
    if (p.correction != 0) comments.push_back("measured " + format_decimal(p.measured) + " " + c.unit);
    row(out, {period, join(points, " + "), c.id, c.description, format_decimal(p.value), c.unit, c.monitoring_option,
              "agent journal (" + r.site_id + ")", measurement_method(p), frequency(p), join(comments, "; ")});
  }
  for (const FormulaResult& f : r.results)
    row(out, {period, "-", f.config->id, "calculated: " + f.config->expression, f.evaluated ? format_decimal(f.value) : "", f.config->unit,
              "-", "calculation", "-", "per period", ""});
  for (const CrossCheckResult& x : r.cross_checks)
    row(out, {period, "-", "cross-check " + x.config->id,
              x.config->description.empty() ? x.config->value + " against " + x.config->reference : x.config->description,
              x.value && x.reference ? format_decimal(x.difference_percent, 2) : "", "%", "-",
              x.config->value + " " + (x.value ? format_decimal(*x.value) : "no data") + "; " + x.config->reference + " " +
                  (x.reference ? format_decimal(*x.reference) : "no data"),
              "within " + format_decimal(x.config->tolerance_percent, 2) + " %", "per period",
              x.pass ? "pass" : "FAILED: a finding for the verifier"});
  for (const SiteRecordUse& n : r.site_notes)
    row(out, {period, n.point.empty() ? "-" : n.point, "site note", n.summary, "", "", "-",
              "site record seq " + std::to_string(n.seq), "entered at the site", format_time(n.ts_ms), ""});
  row(out, {period, "-", r.monitoring->emission_reductions + " (credited)", "rounded down to whole tonnes",
            std::to_string(r.credited_tco2), "tCO2", "-", "calculation", "-", "per period", join(r.notes, "; ")});
  return out;
}

}  // namespace mrv::report
