#include "mrv/report/html.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "mrv/report/format.hpp"

namespace mrv::report {
namespace {

constexpr const char* kDash = "\xE2\x80\x94";   // — : no value
constexpr const char* kMinus = "\xE2\x88\x92";  // − : a negative duration
constexpr int64_t kMinuteMs = 60'000, kHourMs = 60 * kMinuteMs, kDayMs = 24 * kHourMs;

// ---- text -------------------------------------------------------------------------------

std::string esc(std::string_view s) { return report::html_escape(s); }

std::string or_dash(std::string_view s) { return s.empty() ? std::string(kDash) : esc(s); }

// "1234567" -> "1,234,567" (an optional leading '-' kept).
std::string group_thousands(const std::string& digits) {
  size_t first = digits.empty() || digits[0] != '-' ? 0 : 1;
  std::string out = digits.substr(0, first);
  for (size_t i = first; i < digits.size(); ++i) {
    if (i > first && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Up to 6 decimals, trailing zeros dropped, thousands grouped; "—" for NaN and infinity.
std::string num(double v) {
  if (!std::isfinite(v)) return kDash;
  char buf[64];
  double a = std::fabs(v);
  if (a != 0 && (a < 1e-4 || a >= 1e15)) {
    std::snprintf(buf, sizeof buf, "%.6g", v);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%.6f", v);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  if (s == "-0") s = "0";
  size_t dot = std::min(s.find('.'), s.size());
  return group_thousands(s.substr(0, dot)) + s.substr(dot);
}

std::string count(uint64_t n) { return group_thousands(std::to_string(n)); }

std::string with_unit(double v, std::string_view unit) {
  return std::isfinite(v) && !unit.empty() ? num(v) + " " + esc(unit) : num(v);
}

// A ratio as a percent, rounded down so that 99.999 % never shows as 100 %.
std::string percent(double ratio) {
  if (!std::isfinite(ratio)) return kDash;
  return num(std::floor(ratio * 10000.0) / 100.0) + " %";
}

// ---- time -------------------------------------------------------------------------------

using Millis = std::chrono::sys_time<std::chrono::milliseconds>;

std::chrono::year_month_day civil_day(int64_t ms) {
  return std::chrono::year_month_day{std::chrono::floor<std::chrono::days>(Millis{std::chrono::milliseconds{ms}})};
}

// As format_duration (format.hpp) words it, with a true minus: "−2 h 05 min".
std::string duration(int64_t ms) {
  std::string s = format_duration(ms);
  return s.starts_with('-') ? kMinus + s.substr(1) : s;
}

// ---- tables -----------------------------------------------------------------------------

// Cells are HTML already (escape what goes in).
void table_row(std::string& out, std::initializer_list<std::string> cells, const char* tag = "td") {
  out += "<tr>";
  for (const auto& c : cells) out += std::string("<") + tag + ">" + c + "</" + tag + ">";
  out += "</tr>\n";
}

void table_open(std::string& out, const char* cls, std::initializer_list<std::string> head) {
  out += std::string("<table class=\"") + cls + "\">\n<thead>";
  table_row(out, head, "th");
  out += "</thead>\n<tbody>\n";
}

void table_close(std::string& out) { out += "</tbody></table>\n"; }

void kv_row(std::string& out, std::string_view label, const std::string& html) {
  out += "<tr><th scope=\"row\">" + esc(label) + "</th><td>" + html + "</td></tr>\n";
}

void note_list(std::string& out, const std::vector<std::string>& notes) {
  if (notes.empty()) return;
  out += "<ul class=\"notes\">\n";
  for (const auto& n : notes) out += "<li>" + esc(n) + "</li>\n";
  out += "</ul>\n";
}

const char* aggregation_name(Aggregation a) {
  switch (a) {
    case Aggregation::counter: return "counter difference";
    case Aggregation::integral: return "time integral";
    case Aggregation::mean: return "mean";
    case Aggregation::min: return "minimum";
    case Aggregation::max: return "maximum";
    case Aggregation::fixed: return "fixed";
    case Aggregation::documents: return "sum of recorded documents";
  }
  return "?";
}

const char* break_name(CounterBreak b) {
  switch (b) {
    case CounterBreak::exchange: return "meter exchange";
    case CounterBreak::rollover: return "rollover";
    case CounterBreak::reset: return "reset";
  }
  return "?";
}

std::string reading_source(const CounterReading& r) {
  return "seq " + std::to_string(r.seq) + (r.meter_serial.empty() ? "" : ", meter " + esc(r.meter_serial));
}

std::string reading_text(const CounterReading& r, std::string_view unit) {
  return with_unit(r.value, unit) + " at " + format_time(r.ts_ms) + " (" + reading_source(r) + ")";
}

std::string boundary_text(const std::optional<BoundaryValue>& b, std::string_view unit) {
  if (!b || b->how == BoundaryValue::How::none) return "<span class=\"bad\">no value</span>";
  std::string s = with_unit(b->value, unit);
  if (b->how == BoundaryValue::How::interpolated)
    s += " <em>interpolated</em> between " + reading_text(b->before, unit) + " and " + reading_text(b->after, unit);
  else
    s += ", read at " + format_time(b->reading.ts_ms) + ", " + duration(b->distance_ms) + " from the boundary (" +
         reading_source(b->reading) + ")";
  if (b->far) s += " <span class=\"bad\">further from the boundary than the gap limit</span>";
  return s;
}

// ---- chart ------------------------------------------------------------------------------

constexpr double kW = 720, kH = 240, kLeft = 72, kRight = 12, kTop = 18, kBottom = 30;

struct Axis {
  double d0, d1, r0, r1;
  double operator()(double v) const { return r0 + (v - d0) / (d1 - d0) * (r1 - r0); }
};

std::string xy(double x, double y) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x, y);
  return buf;
}

std::string attr_num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// About four round steps (1, 2 or 5 × 10^k) covering [lo, hi]; lo and hi widened to them.
std::vector<double> value_ticks(double& lo, double& hi) {
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
    double pad = std::max(1e-6, std::fabs(hi) * 0.05);
    lo -= pad, hi += pad;
  }
  double raw = (hi - lo) / 4, mag = std::pow(10.0, std::floor(std::log10(raw))), n = raw / mag;
  double step = (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
  lo = std::floor(lo / step) * step, hi = std::ceil(hi / step) * step;
  std::vector<double> ticks;
  for (int i = 0; lo + i * step <= hi + step * 1e-9; ++i) ticks.push_back(lo + i * step);
  return ticks;
}

struct TimeTick {
  int64_t ms;
  std::string label;
};

// At most 7 UTC-aligned ticks: hours or days for short periods, month starts for long ones.
std::vector<TimeTick> time_ticks(int64_t from, int64_t to) {
  std::vector<TimeTick> ticks;
  for (int64_t h : {1, 2, 3, 6, 12, 24, 48, 168, 336}) {
    int64_t step = h * kHourMs;
    if ((to - from) / step > 6) continue;
    for (int64_t t = (from + step - 1) / step * step; t <= to; t += step) {
      std::string iso = format_time(t);
      ticks.push_back({t, h < 24 ? iso.substr(5, 11).replace(5, 1, " ") : iso.substr(0, 10)});
    }
    return ticks;
  }
  using namespace std::chrono;
  auto ym = civil_day(from);
  auto month = year_month{ym.year(), ym.month()};
  if (ym.day() != day{1}) month += months{1};
  int64_t span_months = (to - from) / (30 * kDayMs);
  int64_t step = span_months <= 6 ? 1 : span_months <= 12 ? 2 : span_months <= 18 ? 3 : span_months <= 36 ? 6 : 12;
  for (;; month += months{step}) {
    int64_t t = sys_days{month / day{1}}.time_since_epoch().count() * kDayMs;
    if (t > to) break;
    ticks.push_back({t, format_time(t).substr(0, 7)});
  }
  return ticks;
}

bool drawable(const ChartBucket& b) {
  return b.readings > 0 && std::isfinite(b.min) && std::isfinite(b.max) && std::isfinite(b.last);
}

// One run of consecutive drawn buckets: a stepped min–max band and a line through `last`.
void chart_run(std::string& out, const std::vector<ChartBucket>& chart, size_t from, size_t to, int64_t end_ms,
               const Axis& x, const Axis& y) {
  auto bucket_end = [&](size_t i) { return i + 1 < chart.size() ? chart[i + 1].from_ms : end_ms; };
  std::string top, bottom, line;
  for (size_t i = from; i < to; ++i) {
    double x0 = x(double(chart[i].from_ms)), x1 = x(double(bucket_end(i)));
    top += xy(x0, y(chart[i].max)) + xy(x1, y(chart[i].max));
    if (to - from == 1) line = xy(x0, y(chart[i].last)) + xy(x1, y(chart[i].last));
    else line += xy((x0 + x1) / 2, y(chart[i].last));
  }
  for (size_t i = to; i-- > from;)
    bottom += xy(x(double(bucket_end(i))), y(chart[i].min)) + xy(x(double(chart[i].from_ms)), y(chart[i].min));
  out += "<polygon class=\"band\" points=\"" + top + bottom + "\"/>\n";
  out += "<polyline class=\"line\" points=\"" + line + "\"/>\n";
}

void chart_svg(std::string& out, const PointReport& p, const MonitoringPeriod& period) {
  const auto& chart = p.chart;
  bool any = std::any_of(chart.begin(), chart.end(), drawable);
  if (!any || period.end_ms <= period.start_ms) {
    out += "<p class=\"muted\">No readings to chart.</p>\n";
    return;
  }
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& b : chart)
    if (drawable(b)) lo = std::min(lo, b.min), hi = std::max(hi, b.max);
  auto yticks = value_ticks(lo, hi);
  Axis x{double(period.start_ms), double(period.end_ms), kLeft, kW - kRight};
  Axis y{lo, hi, kH - kBottom, kTop};
  std::string label = "Readings of point " + p.point_id + " over " + period.name + " (" + p.unit + ")";
  out += "<figure class=\"chart\"><svg viewBox=\"0 0 " + attr_num(kW) + " " + attr_num(kH) +
         "\" role=\"img\" aria-label=\"" + esc(label) + "\" xmlns=\"http://www.w3.org/2000/svg\">\n<title>" +
         esc(label) + "</title>\n";
  for (const auto& g : p.gaps) {
    double x0 = x(double(std::max(g.from_ms, period.start_ms))), x1 = x(double(std::min(g.to_ms, period.end_ms)));
    if (x1 <= x0) continue;
    out += "<rect class=\"gap\" x=\"" + attr_num(x0) + "\" y=\"" + attr_num(kTop) + "\" width=\"" +
           attr_num(x1 - x0) + "\" height=\"" + attr_num(kH - kTop - kBottom) + "\"><title>gap " +
           format_time(g.from_ms) + " to " + format_time(g.to_ms) + "</title></rect>\n";
  }
  for (double t : yticks) {
    std::string ty = attr_num(y(t));
    out += "<line class=\"grid\" x1=\"" + attr_num(kLeft) + "\" x2=\"" + attr_num(kW - kRight) + "\" y1=\"" + ty +
           "\" y2=\"" + ty + "\"/><text class=\"ylab\" x=\"" + attr_num(kLeft - 6) + "\" y=\"" + ty + "\">" + num(t) +
           "</text>\n";
  }
  for (const auto& t : time_ticks(period.start_ms, period.end_ms)) {
    std::string tx = attr_num(x(double(t.ms)));
    out += "<line class=\"tick\" x1=\"" + tx + "\" x2=\"" + tx + "\" y1=\"" + attr_num(kH - kBottom) + "\" y2=\"" +
           attr_num(kH - kBottom + 5) + "\"/><text class=\"xlab\" x=\"" + tx + "\" y=\"" + attr_num(kH - 8) + "\">" +
           esc(t.label) + "</text>\n";
  }
  for (size_t i = 0; i < chart.size();) {
    if (!drawable(chart[i])) { ++i; continue; }
    size_t j = i;
    while (j < chart.size() && drawable(chart[j])) ++j;
    chart_run(out, chart, i, j, period.end_ms, x, y);
    i = j;
  }
  out += "<rect class=\"frame\" x=\"" + attr_num(kLeft) + "\" y=\"" + attr_num(kTop) + "\" width=\"" +
         attr_num(kW - kLeft - kRight) + "\" height=\"" + attr_num(kH - kTop - kBottom) + "\"/>\n";
  out += "<text class=\"unit\" x=\"" + attr_num(kLeft) + "\" y=\"12\">" + esc(p.unit) + "</text>\n</svg>\n";
  out += "<figcaption>" + esc(label) + "; band: min–max per slice, line: last reading; shaded: gaps.</figcaption>"
         "</figure>\n";
}

// ---- sections ---------------------------------------------------------------------------

constexpr const char* kStyle = R"(
:root{--ink:#1b1f24;--muted:#5b6470;--line:#c9d0d8;--bad:#a4161a;--accent:#1d5d9b}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
 max-width:1100px;margin:0 auto;padding:1.5rem;line-height:1.4;font-size:15px}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;border-bottom:2px solid var(--line);margin-top:2rem}
h3{font-size:1.1rem;margin-top:1.5rem}h4{margin:1rem 0 .3rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid var(--line);padding:.25rem .45rem;
 text-align:left;vertical-align:top}thead th{background:#eef2f6}th[scope=row]{width:14rem;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.85em}
pre{white-space:pre-wrap;word-break:break-all;background:#f5f7f9;border:1px solid var(--line);padding:.5rem}
.headline{border:2px solid var(--accent);padding:.8rem 1rem;margin:1rem 0;border-radius:6px}
.headline .big{font-size:2rem;font-weight:700}.muted{color:var(--muted)}.bad{color:var(--bad);font-weight:600}
.warning{border:2px solid var(--bad);color:var(--bad);padding:.5rem .8rem;font-weight:700;margin:.5rem 0}
.point{border-top:1px dashed var(--line);padding-top:.3rem}
figure.chart{margin:.5rem 0}figure.chart svg{width:100%;height:auto;display:block}
figcaption{font-size:.8rem;color:var(--muted)}
svg .band{fill:#1d5d9b;fill-opacity:.25;stroke:none}svg .line{fill:none;stroke:#1d5d9b;stroke-width:1.2}
svg .gap{fill:#a4161a;fill-opacity:.15}svg .grid{stroke:#e1e6eb}svg .tick{stroke:#5b6470}
svg .frame{fill:none;stroke:#5b6470}svg text{font-size:10px;fill:#3a424b}
svg .ylab{text-anchor:end;dominant-baseline:middle}svg .xlab{text-anchor:middle}
@page{size:A4;margin:14mm}
@media print{body{max-width:none;padding:0;font-size:10pt}thead th,pre{background:none}
 table,figure,pre,.headline,.point h4{page-break-inside:avoid;break-inside:avoid}h2,h3,h4{page-break-after:avoid}}
)";

void header(std::string& out, const Report& r) {
  const MonitoringConfig* m = r.monitoring;
  out += "<header>\n<p class=\"muted\">Monitoring report</p>\n<h1>" + esc(r.site_id) + " " + kDash + " " +
         esc(r.period.name) + "</h1>\n<table class=\"kv\">\n";
  kv_row(out, "Methodology", m ? esc(m->methodology) + " version " + or_dash(m->version) : kDash);
  kv_row(out, "Site", or_dash(r.site_id));
  const PeriodFacts& f = r.period_facts;
  kv_row(out, "Period", esc(r.period.name) + ": " + esc(f.jcm_dates) + " <span class=\"muted\">(" + esc(f.time_zone) +
                            "; " + format_time(r.period.start_ms) + " to " + format_time(r.period.end_ms) +
                            ", end exclusive)</span>");
  if (!f.crediting_jcm_dates.empty()) kv_row(out, "Crediting period", esc(f.crediting_jcm_dates));
  kv_row(out, "Previous period", f.previous_period.empty() ? std::string("none")
                                 : esc(f.previous_period) + (f.back_to_back ? " (back to back)" : " (not back to back)"));
  kv_row(out, "Generated", format_time(r.generated_ms));
  kv_row(out, "Config SHA-256", "<code>" + or_dash(r.config_hash_hex) + "</code>");
  out += "</table>\n</header>\n";
}

void headline(std::string& out, const Report& r) {
  std::string formula = r.monitoring ? esc(r.monitoring->emission_reductions) : std::string(kDash);
  out += "<section class=\"headline\">\n<div>Credited emission reductions</div>\n<div class=\"big\">" +
         group_thousands(std::to_string(r.credited_tco2)) + " tCO2</div>\n<div class=\"muted\">exact: " +
         num(r.emission_reductions) + " tCO2 (" + formula + "), rounded down to whole tonnes</div>\n";
  if (!r.complete)
    out += "<div class=\"warning\">Incomplete report: a parameter had no usable data, so nothing is credited.</div>\n";
  note_list(out, r.notes);
  out += "</section>\n";
}

std::string parameter_source(const MonitoringParameter& c) {
  if (c.aggregation == Aggregation::fixed) return or_dash(c.source);
  std::string s = "points: ";
  for (size_t i = 0; i < c.points.size(); ++i) s += (i ? ", " : "") + esc(c.points[i]);
  return s;
}

// Site records (people's entries) by seq and hash, with what they say.
void site_records_table(std::string& out, const char* title, const std::vector<SiteRecordUse>& uses) {
  if (uses.empty()) return;
  out += std::string("<h4>") + title + "</h4>\n";
  table_open(out, "site-records", {"Seq", "Time", "Record", "Record SHA-256"});
  for (const SiteRecordUse& u : uses)
    table_row(out, {std::to_string(u.seq), format_time(u.ts_ms), esc(u.summary), "<code>" + esc(u.hash_hex) + "</code>"});
  table_close(out);
}

void parameters_table(std::string& out, const Report& r) {
  out += "<section>\n<h2>Parameters</h2>\n";
  table_open(out, "params", {"Parameter", "Description", "Value", "Unit", "Aggregation", "Monitoring option",
                             "Source", "Coverage", "Corrections"});
  for (const auto& p : r.parameters) {
    if (!p.config) continue;
    const auto& c = *p.config;
    bool fixed = c.aggregation == Aggregation::fixed;
    std::string correction = p.correction == 0 ? "none"
                                                : with_unit(p.correction, c.unit) + " (measured " + num(p.measured) + ")";
    table_row(out, {"<code>" + esc(c.id) + "</code>", esc(c.description),
                    p.has_data ? num(p.value) : "<span class=\"bad\">no data</span>", esc(c.unit),
                    aggregation_name(c.aggregation), or_dash(c.monitoring_option), parameter_source(c),
                    fixed ? std::string(kDash) : percent(p.coverage), correction});
  }
  table_close(out);
  for (const auto& p : r.parameters)
    if (p.config && !p.documents.empty()) {
      std::string title = "Documents of " + p.config->id;
      site_records_table(out, title.c_str(), p.documents);
    }
  if (!r.cross_checks.empty()) {
    out += "<h3>Cross-checks</h3>\n";
    table_open(out, "cross-checks", {"Check", "Value", "Reference", "Difference", "Tolerance", "Result"});
    for (const CrossCheckResult& x : r.cross_checks)
      table_row(out, {esc(x.config->id) + (x.config->description.empty() ? "" : ": " + esc(x.config->description)),
                      "<code>" + esc(x.config->value) + "</code> " + (x.value ? num(*x.value) : std::string("no data")),
                      "<code>" + esc(x.config->reference) + "</code> " + (x.reference ? num(*x.reference) : std::string("no data")),
                      x.value && x.reference ? num(x.difference_percent) + " %" : std::string(kDash),
                      num(x.config->tolerance_percent) + " %",
                      x.pass ? std::string("pass") : std::string("<span class=\"bad\">FAILED (a finding)</span>")});
    table_close(out);
  }
  site_records_table(out, "Notes entered at the site", r.site_notes);
  out += "</section>\n<section>\n<h2>Results</h2>\n";
  table_open(out, "results", {"Formula", "Expression", "Value", "Unit"});
  for (const auto& f : r.results) {
    if (!f.config) continue;
    bool credited = r.monitoring && f.config->id == r.monitoring->emission_reductions;
    table_row(out, {"<code>" + esc(f.config->id) + "</code>" + (credited ? " (credited)" : ""),
                    "<code>" + esc(f.config->expression) + "</code>",
                    f.evaluated ? num(f.value) : "<span class=\"bad\">not evaluated</span>", esc(f.config->unit)});
  }
  table_close(out);
  out += "</section>\n";
}

void point_facts(std::string& out, const PointReport& p, std::string_view param_unit) {
  out += "<table class=\"kv\">\n";
  kv_row(out, "Readings / expected", count(p.readings) + " / " + count(p.expected_readings) + " (every " +
                                         duration(p.interval_ms) + ")");
  kv_row(out, "Coverage", percent(p.coverage) + ", gaps " + num(p.gap_hours) + " h (gap limit " +
                              duration(p.gap_limit_ms) + ")");
  kv_row(out, "Excluded", count(p.excluded_quality) + " not good, " + count(p.excluded_unit) + " wrong unit, " +
                              count(p.out_of_order) + " out of order; " + count(p.unsynchronised) +
                              " stamped by an unsynchronised clock");
  if (p.start || p.end) {
    kv_row(out, "Start value", boundary_text(p.start, p.unit));
    kv_row(out, "End value", boundary_text(p.end, p.unit));
  }
  if (p.mean || p.min || p.max)
    kv_row(out, "Mean / min / max", num(p.mean.value_or(NAN)) + " / " + num(p.min.value_or(NAN)) + " / " +
                                        with_unit(p.max.value_or(NAN), p.unit));
  kv_row(out, "Share of the parameter", with_unit(p.value, param_unit));
  kv_row(out, "Meter", "serial " + or_dash(p.meter_serial) + ", accuracy class " + or_dash(p.accuracy_class));
  kv_row(out, "Calibration valid until", or_dash(p.calibration_valid_until) + " (config)");
  const CalibrationCoverage& c = p.calibration;
  kv_row(out, "Calibration coverage",
         !c.stated ? std::string("<span class=\"bad\">unknown: no calibration recorded or configured</span>")
                   : (c.coverage < 0.99995 ? "<span class=\"bad\">" + percent(c.coverage) + "</span>" : percent(c.coverage)) +
                         " of the period; " + num(c.failed_h) + " h under a failed calibration, " + num(c.expired_h) +
                         " h expired");
  if (p.manual_readings) kv_row(out, "Manual readings", count(p.manual_readings));
  std::string ooc = count(p.out_of_calibration);
  if (p.out_of_calibration > 0)
    ooc = "<span class=\"bad\">" + ooc + "</span> (" + with_unit(p.out_of_calibration_value, param_unit) + ")";
  kv_row(out, "Out-of-calibration readings", ooc);
  out += "</table>\n";
}

void point_section(std::string& out, const PointReport& p, const ParameterReport& param, const Report& r) {
  std::string param_unit = param.config ? param.config->unit : "";
  out += "<div class=\"point\">\n<h4>Point <code>" + esc(p.point_id) + "</code> (" + esc(p.unit) + ")</h4>\n";
  point_facts(out, p, param_unit);
  if (!p.events.empty()) {
    table_open(out, "events", {"Event", "Before", "After"});
    for (const auto& e : p.events)
      table_row(out, {break_name(e.kind), reading_text(e.before, p.unit), reading_text(e.after, p.unit)});
    table_close(out);
  }
  site_records_table(out, "Calibrations", p.calibration.calibrations);
  site_records_table(out, "Recorded meter exchanges", p.exchanges);
  if (!p.gaps.empty()) {
    table_open(out, "gaps", {"Gap from", "To", "Length", "Rule", "Counted", "Explained by"});
    for (const auto& g : p.gaps) {
      std::string notes;
      for (uint64_t seq : g.explained_by) notes += (notes.empty() ? "note seq " : ", ") + std::to_string(seq);
      table_row(out, {format_time(g.from_ms), format_time(g.to_ms), duration(g.to_ms - g.from_ms),
                      esc(g.rule) + (g.over_break ? " <span class=\"bad\">over a reset or exchange</span>" : ""),
                      with_unit(g.counted, param_unit), or_dash(notes)});
    }
    table_close(out);
  }
  chart_svg(out, p, r.period);
  out += "</div>\n";
}

void points_sections(std::string& out, const Report& r) {
  out += "<section>\n<h2>Points</h2>\n";
  for (const auto& param : r.parameters) {
    if (param.points.empty() && param.notes.empty()) continue;
    std::string id = param.config ? param.config->id : "", what = param.config ? param.config->description : "";
    out += "<h3><code>" + esc(id) + "</code> " + esc(what) + "</h3>\n";
    note_list(out, param.notes);
    for (const auto& p : param.points) point_section(out, p, param, r);
  }
  out += "</section>\n";
}

void annex(std::string& out, const Report& r) {
  const Annex& a = r.annex;
  out += "<section>\n<h2>Cryptographic annex</h2>\n<table class=\"kv\">\n";
  kv_row(out, "Records", count(r.seqs.records) + ", seq " + std::to_string(r.seqs.first) + " to " +
                             std::to_string(r.seqs.last));
  kv_row(out, "Window read", format_time(r.window_from_ms) + " to " + format_time(r.window_to_ms));
  out += "</table>\n<h4>Checkpoint at the period's end</h4>\n";
  out += a.end_checkpoint.empty() ? "<p class=\"bad\">none</p>\n" : "<pre>" + esc(a.end_checkpoint) + "</pre>\n";
  out += "<h4>Previous period's checkpoint</h4>\n";
  out += a.previous_checkpoint.empty() ? "<p class=\"muted\">none (first period)</p>\n"
                                       : "<pre>" + esc(a.previous_checkpoint) + "</pre>\n";
  if (!a.consistency_proof_hex.empty()) {
    out += "<h4>Consistency proof (RFC 9162), previous to end</h4>\n<ol class=\"proof\">\n";
    for (const auto& h : a.consistency_proof_hex) out += "<li><code>" + esc(h) + "</code></li>\n";
    out += "</ol>\n";
  }
  out += "</section>\n";
}

}  // namespace

std::string render_html(const Report& report) {
  std::string out;
  out.reserve(64 * 1024);
  out += html_page_start("Monitoring report " + report.site_id + " " + kDash + " " + report.period.name, kStyle);
  header(out, report);
  out += "<main>\n";
  headline(out, report);
  parameters_table(out, report);
  points_sections(out, report);
  annex(out, report);
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace mrv::report
