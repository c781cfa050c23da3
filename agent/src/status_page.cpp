#include "status_page.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace mrv::agent {
namespace {

constexpr const char* kDash = "\xE2\x80\x94";  // — : nothing to show

std::string or_dash(std::string_view s) { return s.empty() ? std::string(kDash) : html_escape(s); }

std::string iso_utc(int64_t ms) {
  if (ms <= 0) return kDash;
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

// "4 s", "12 min", "3 h 5 min", "2 d 4 h": how long ago, for people.
std::string age(int64_t now_ms, int64_t then_ms) {
  if (then_ms <= 0) return kDash;
  int64_t s = (now_ms - then_ms) / 1000;
  if (s < 0) return "in the future";
  if (s < 120) return std::to_string(s) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  if (s < 172800) return std::to_string(s / 3600) + " h " + std::to_string(s / 60 % 60) + " min";
  return std::to_string(s / 86400) + " d " + std::to_string(s / 3600 % 24) + " h";
}

std::string mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

void row(std::string& out, std::string_view name, const std::string& html) {
  out += "<tr><th scope=\"row\">";
  out += name;
  out += "</th><td>" + html + "</td></tr>\n";
}

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1b1f24;margin:0 auto;
 padding:1rem;max-width:1200px;font-size:14px;line-height:1.35}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.1rem;border-bottom:2px solid #c9d0d8;margin-top:1.4rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{border:1px solid #c9d0d8;padding:.2rem .4rem;
 text-align:left;vertical-align:middle}thead th{background:#eef2f6;position:sticky;top:0}
th[scope=row]{width:13rem;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:.9em;word-break:break-all}
.ok{border:2px solid #2b7a3d;color:#2b7a3d;padding:.4rem .8rem;font-weight:700;border-radius:4px}
.unhealthy{border:2px solid #a4161a;color:#a4161a;padding:.4rem .8rem;border-radius:4px}
.unhealthy ul,.warn ul{margin:.3rem 0;padding-left:1.2rem}
.warn{border:2px solid #9a6700;color:#7a5200;padding:.4rem .8rem;border-radius:4px;margin-top:.4rem}.bad{color:#a4161a;font-weight:600}.muted{color:#5b6470}
svg.spark{display:block}svg.spark polyline{fill:none;stroke:#1d5d9b;stroke-width:1.2}svg.spark circle{fill:#1d5d9b}
)";

// One row per point with a meter: its state, until when, and what says so.
void calibration_table(std::string& out, const CalibrationSnapshot& c) {
  out += "<h2>Calibration</h2>\n<table id=\"calibration\"><thead><tr><th>point</th><th>meter</th><th>state</th>"
         "<th>valid until</th><th>days left</th><th>according to</th></tr></thead><tbody>\n";
  for (const PointCalibration& p : c.points) {
    bool known = p.state != CalibrationState::unknown;
    out += "<tr><th scope=\"row\"><code>" + html_escape(p.point) + "</code></th><td><code>" + or_dash(p.meter_serial) +
           "</code></td><td" + (is_warning(p.state) ? " class=\"bad\"" : "") + ">" +
           std::string(to_string(p.state)) + "</td><td class=\"num\">" + or_dash(p.last_valid_date) +
           "</td><td class=\"num\">" + (known ? std::to_string(p.days_left) : std::string(kDash)) + "</td><td>" +
           (!known ? std::string(kDash)
            : p.seq == 0 ? std::string("calibration_valid_until in the config")
                         : "certificate " + html_escape(p.certificate) + " (record seq " + std::to_string(p.seq) + ")") +
           "</td></tr>\n";
  }
  out += "</tbody></table>\n<p class=\"muted\">Dates are local to the site ([site] timezone); a calibration is due "
         "from [site] calibration_warning_days before it ends.";
  if (!c.error.empty()) out += " <span class=\"bad\">Site records: " + html_escape(c.error) + "</span>";
  out += "</p>\n";
}

}  // namespace


std::string sparkline_svg(std::span<const PointHistory::Sample> samples) {
  constexpr double kW = 120, kH = 24, kPad = 2;
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : samples)
    if (std::isfinite(s.value)) lo = std::min(lo, s.value), hi = std::max(hi, s.value);
  if (!std::isfinite(lo) || samples.empty()) return "";
  int64_t t0 = samples.front().ts_ms, t1 = samples.back().ts_ms;
  auto x = [&](int64_t t) { return t1 > t0 ? kPad + (kW - 2 * kPad) * double(t - t0) / double(t1 - t0) : kW / 2; };
  auto y = [&](double v) { return hi > lo ? kH - kPad - (kH - 2 * kPad) * (v - lo) / (hi - lo) : kH / 2; };
  std::string out = "<svg class=\"spark\" width=\"120\" height=\"24\" viewBox=\"0 0 120 24\" "
                    "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"last " +
                    std::to_string(samples.size()) + " samples\">";
  // One polyline per run of values; a gap (NaN) ends a run; a lone value is a dot.
  size_t i = 0;
  while (i < samples.size()) {
    while (i < samples.size() && !std::isfinite(samples[i].value)) ++i;
    size_t begin = i;
    while (i < samples.size() && std::isfinite(samples[i].value)) ++i;
    if (i - begin == 1) {
      out += "<circle cx=\"" + coord(x(samples[begin].ts_ms)) + "\" cy=\"" + coord(y(samples[begin].value)) +
             "\" r=\"1.5\"/>";
    } else if (i - begin > 1) {
      out += "<polyline points=\"";
      for (size_t k = begin; k < i; ++k)
        out += (k > begin ? " " : "") + coord(x(samples[k].ts_ms)) + "," + coord(y(samples[k].value));
      out += "\"/>";
    }
  }
  return out + "</svg>";
}

std::string render_status_page(const AgentStatus& s, const Health& health) {
  std::string out;
  out.reserve(4096 + s.points.points.size() * 900);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<meta http-equiv=\"refresh\" content=\"5\">\n<link rel=\"icon\" href=\"data:,\">\n<title>mrv-agent ";
  out += html_escape(s.site_id) + "</title>\n<style>" + kStyle + "</style>\n</head><body>\n";
  out += "<h1>mrv-agent " + std::string(kDash) + " site " + or_dash(s.site_id) + "</h1>\n";
  out += "<p class=\"muted\">" + iso_utc(s.now_ms) + " (UTC), version " + html_escape(s.version) +
         ", config <code>" + or_dash(s.writer.config_hash_hex.substr(0, 16)) +
         "</code>. This page reloads every 5 s.</p>\n";
  if (health.ok) {
    out += "<p class=\"ok\" id=\"health\">Healthy</p>\n";
  } else {
    out += "<div class=\"unhealthy\" id=\"health\"><strong>Not healthy:</strong><ul>\n";
    for (const auto& r : health.reasons) out += "<li>" + html_escape(r) + "</li>\n";
    out += "</ul></div>\n";
  }
  if (!health.warnings.empty()) {
    out += "<div class=\"warn\" id=\"warnings\"><strong>Warnings:</strong><ul>\n";
    for (const auto& w : health.warnings) out += "<li>" + html_escape(w) + "</li>\n";
    out += "</ul></div>\n";
  }

  out += "<h2>Sources</h2>\n<table><thead><tr><th>source</th><th>state</th><th>last value</th><th>readings</th>"
         "<th>gaps today</th><th>last error</th></tr></thead><tbody>\n";
  for (const auto& src : s.sources) {
    bool up = src.state == "connected" || src.state == "running";
    out += "<tr><td><code>" + html_escape(src.label) + "</code></td><td" + (up ? "" : " class=\"bad\"") + ">" +
           or_dash(src.state) + (src.state_since_ms > 0 ? " <span class=\"muted\">for " + age(s.now_ms, src.state_since_ms) + "</span>" : "") +
           "</td><td class=\"num\">" + (src.last_reading_ms > 0 ? age(s.now_ms, src.last_reading_ms) + " ago" : kDash) +
           "</td><td class=\"num\">" + std::to_string(src.readings) + "</td><td class=\"num\">" +
           std::to_string(src.gaps_today) + "</td><td>" + or_dash(src.last_error) + "</td></tr>\n";
  }
  out += "</tbody></table>\n";

  out += "<h2>Journal</h2>\n<table>\n";
  const WriterStats& w = s.writer;
  row(out, "accepting readings", w.accepting ? "yes" : "<span class=\"bad\">no</span>: " + or_dash(w.last_error));
  row(out, "last record", "seq " + std::to_string(w.last_seq));
  row(out, "stored since start", std::to_string(w.stored) + " (" + std::to_string(w.duplicates) + " duplicates skipped, " +
                                     std::to_string(w.refused) + " refused, " + std::to_string(w.held) + " waiting)");
  if (s.journal.known) {
    double used = s.journal.quota_bytes ? 100.0 * double(s.journal.used_bytes) / double(s.journal.quota_bytes) : 0;
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.1f", used);
    row(out, "size", mib(s.journal.used_bytes) + " used of " + mib(s.journal.quota_bytes) + " quota (" + pct +
                         " %), " + mib(s.journal.file_bytes) + " on disk, " + std::to_string(s.journal.record_count) +
                         " records <span class=\"muted\">(counted " + age(s.now_ms, s.journal.sampled_ms) + " ago)</span>");
  } else {
    row(out, "size", or_dash(s.journal.error));
  }
  row(out, "clock", s.clock_synchronised ? "NTP-synchronised" : "<span class=\"bad\">not synchronised</span>");
  out += "</table>\n";

  out += "<h2>Upload</h2>\n<table>\n";
  if (!s.upload) {
    row(out, "registry", "none configured");
  } else {
    const auto& u = s.upload->status;
    row(out, "registry", "<code>" + html_escape(u.url) + "</code>");
    row(out, "waiting", std::to_string(s.upload->lag_records) + " record(s), the oldest for " +
                            std::to_string(static_cast<int64_t>(s.upload->lag_s)) + " s");
    row(out, "last receipt", u.last_receipt_ms > 0 ? iso_utc(u.last_receipt_ms) + " (" + age(s.now_ms, u.last_receipt_ms) + " ago)"
                                                  : std::string(kDash));
    row(out, "receipted since start", std::to_string(u.uploaded_records) + " records in " + std::to_string(u.batches) +
                                          " batches, " + std::to_string(u.retries) + " failed attempts retried");
    if (!u.stopped.empty()) row(out, "stopped", "<span class=\"bad\">" + html_escape(u.stopped) + "</span>");
    row(out, "last error", or_dash(u.last_error));
  }
  out += "</table>\n";

  if (s.calibration.known && !s.calibration.points.empty()) calibration_table(out, s.calibration);

  out += "<h2>Points (" + std::to_string(s.points.points.size()) + ")</h2>\n"
         "<table id=\"points\"><thead><tr><th>point</th><th>last value</th><th>unit</th><th>age</th><th>quality</th>"
         "<th>gaps today</th><th>recent</th><th>source</th></tr></thead><tbody>\n";
  for (const auto& p : s.points.points) {
    out += "<tr><td><code>" + html_escape(p.id) + "</code></td><td class=\"num\">" + or_dash(p.value) + "</td><td>" +
           html_escape(p.unit) + "</td><td class=\"num\">" + age(s.now_ms, p.ts_ms) + "</td><td" +
           (p.quality == "good" || p.quality.empty() ? "" : " class=\"bad\"") + ">" + or_dash(p.quality) + "</td>";
    out += "<td class=\"num\"";
    if (p.gaps_today > 0)
      out += " title=\"last: " + html_escape(p.gap_reason) + " at " + iso_utc(p.last_gap_ms) + "\"";
    out += ">" + std::to_string(p.gaps_today) + "</td><td>" + sparkline_svg(p.history) + "</td><td><code>" +
           or_dash(p.source) + "</code></td></tr>\n";
  }
  out += "</tbody></table>\n<p class=\"muted\">Gaps today: gap records (failed or skipped polls) since 00:00 UTC. "
         "Recent: the last value of each of the last 60 steps. Also: <a href=\"/metrics\">/metrics</a>, "
         "<a href=\"/healthz\">/healthz</a>, <a href=\"/status.json\">/status.json</a>.</p>\n</body></html>\n";
  return out;
}

}  // namespace mrv::agent
