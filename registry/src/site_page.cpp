#include "mrv/registry/site_page.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "mrv/core/crypto.hpp"
#include "mrv/report/format.hpp"
#include "store_answers.hpp"

namespace mrv::registry {
namespace {

using report::html_escape;

constexpr int64_t kDayMs = 86'400'000;
constexpr const char* kDash = "\xE2\x80\x94";  // — : nothing to show

std::string utc(int64_t ms, const char* format = "%Y-%m-%d %H:%M:%SZ") {
  if (ms <= 0) return kDash;
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}
std::string day(int64_t ms) { return utc(ms, "%Y-%m-%d"); }

std::string num(uint64_t n) {  // 1,234,567
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string fixed1(double v) {
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
 text-align:left;vertical-align:top}thead th{background:#eef2f6}
th[scope=row]{width:15rem;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:.9em;word-break:break-all}
pre{white-space:pre-wrap;background:#f6f8fa;border:1px solid #c9d0d8;padding:.4rem}
.ok{color:#2b7a3d;font-weight:600}.bad{color:#a4161a;font-weight:600}.muted{color:#5b6470}
svg.coverage rect.day{fill:#1d5d9b}svg.coverage rect.gap{fill:#a4161a}
form{margin:.4rem 0}label{margin-right:1rem}input{font:inherit}
)";

// Newest checkpoint and newest cosigned one: what the registry vouches for.
void checkpoint_section(std::string& out, const SitePage& p) {
  out += "<h2 id=\"cosigned\">Newest cosigned checkpoint</h2>\n";
  if (p.cosigner_name.empty())
    out += "<p class=\"muted\">This registry cosigns no checkpoints (no [cosign] key).</p>\n";
  else
    out += "<p class=\"muted\">This registry cosigns as <code>" + html_escape(p.cosigner_name) +
           "</code>, key <code>" + html_escape(p.cosigner_key_id) +
           "</code> (give its public key to <code>verify --registry-key</code>).</p>\n";
  if (!p.cosigned) {
    out += "<p class=\"bad\">No checkpoint of this site is cosigned.</p>\n";
  } else {
    const Checkpoint& c = p.cosigned->checkpoint;
    out += "<table>\n";
    row(out, "tree size", "<span id=\"cosigned-size\">" + num(c.tree_size) + "</span> (records 1 to " +
                              num(c.tree_size) + ")");
    row(out, "signed by the site at", utc(c.time_ms));
    row(out, "root", "<code>" + to_base64(raw(c.root)) + "</code>");
    std::string lines;
    for (const auto& s : p.cosignatures)
      lines += "<li><code>" + html_escape(s.name) + "</code> key id <code>" + s.key_id_hex + "</code> at " +
               utc(static_cast<int64_t>(s.time_s) * 1000) + (s.ours ? " <span class=\"ok\">(this registry)</span>" : "") +
               "</li>";
    row(out, "cosignatures", "<ul>" + lines + "</ul>");
    out += "</table>\n<p>The cosigned note (the site's signed note, then the cosignature lines; "
           "docs/verification.md §3.1):</p>\n<pre id=\"cosigned-note\">" + html_escape(c.note);
    for (const std::string& line : p.cosigned->cosignatures) out += html_escape(line) + "\n";
    out += "</pre>\n";
  }
  if (p.latest && (!p.cosigned || p.latest->checkpoint.tree_size > p.cosigned->checkpoint.tree_size))
    out += "<p>A newer checkpoint, not cosigned: tree size " + num(p.latest->checkpoint.tree_size) + ", signed at " +
           utc(p.latest->checkpoint.time_ms) + ".</p>\n";
}

void keys_section(std::string& out, const SitePage& p) {
  out += "<h2>Keys</h2>\n<table id=\"keys\"><thead><tr><th>key id (SHA-256 of the public key)</th><th>algorithm</th>"
         "<th>registered</th><th>held in a TPM</th><th>signed the newest checkpoint</th><th>revoked</th></tr></thead><tbody>\n";
  for (const auto& k : p.keys)
    out += "<tr><td><code>" + html_escape(k.key_id) + "</code></td><td>" + html_escape(k.algorithm) + "</td><td>" +
           utc(k.registered_ms) + "</td><td>" +
           (k.tpm_activated_ms ? "attestation key activated " + utc(k.tpm_activated_ms) : std::string("not claimed")) +
           "</td><td>" + (k.signed_latest ? "yes" : "no") + "</td><td>" +
           (k.revoked_from_seq ? "from seq " + std::to_string(k.revoked_from_seq) : std::string("no")) + "</td></tr>\n";
  out += "</tbody></table>\n";
  if (p.keys.empty()) out += "<p class=\"muted\">No key registered yet.</p>\n";
}

// A bar per day of the window (height: records), a red bar where a day has none.
std::string coverage_chart(const SitePage& p, uint64_t most) {
  int64_t days = std::max<int64_t>(1, (p.to_ms - p.from_ms) / kDayMs);
  constexpr double kW = 1000, kH = 120;
  double w = kW / static_cast<double>(days);
  std::string out = "<svg class=\"coverage\" width=\"100%\" viewBox=\"0 0 1000 124\" preserveAspectRatio=\"none\" "
                    "xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"records per day\">";
  auto it = p.coverage.begin();
  for (int64_t d = 0; d < days; ++d) {
    int64_t start = p.from_ms + d * kDayMs;
    while (it != p.coverage.end() && it->day_ms < start) ++it;
    uint64_t n = it != p.coverage.end() && it->day_ms == start ? it->records : 0;
    double h = n ? std::max(2.0, kH * static_cast<double>(n) / static_cast<double>(most)) : 4.0;
    out += std::string("<rect class=\"") + (n ? "day" : "gap") + "\" x=\"" + fixed1(d * w) + "\" y=\"" +
           fixed1(kH - h + (n ? 0 : 4)) + "\" width=\"" + fixed1(std::max(1.0, w - 1)) + "\" height=\"" + fixed1(h) +
           "\"><title>" + day(start) + ": " + num(n) + " records</title></rect>";
  }
  return out + "</svg>\n";
}

void coverage_section(std::string& out, const SitePage& p) {
  uint64_t most = 1, total = 0;
  for (const auto& d : p.coverage) most = std::max(most, d.records), total += d.records;
  int64_t days = (p.to_ms - p.from_ms) / kDayMs;
  int64_t empty = days - static_cast<int64_t>(p.coverage.size());
  out += "<h2 id=\"coverage\">Coverage, " + day(p.from_ms) + " to " + day(p.to_ms - kDayMs) + " (UTC)</h2>\n<p>" +
         num(total) + " readings on " + num(p.coverage.size()) + " of " + num(static_cast<uint64_t>(days)) + " days; " +
         (empty > 0 ? "<span class=\"bad\">" + num(static_cast<uint64_t>(empty)) + (empty == 1 ? " day" : " days") +
                          " without a reading</span>"
                    : std::string("<span class=\"ok\">every day has readings</span>")) +
         ". Times are the readings' own (ts).</p>\n" + coverage_chart(p, most);
  out += "<table id=\"days\"><thead><tr><th>day</th><th>readings</th><th>points</th><th>first</th><th>last</th>"
         "<th>seq</th></tr></thead><tbody>\n";
  auto it = p.coverage.rbegin();
  for (int64_t start = p.to_ms - kDayMs; start >= p.from_ms; start -= kDayMs) {
    while (it != p.coverage.rend() && it->day_ms > start) ++it;
    if (it == p.coverage.rend() || it->day_ms != start) {
      out += "<tr><td>" + day(start) + "</td><td class=\"num bad\">0</td><td colspan=\"4\" class=\"bad\">no readings"
             "</td></tr>\n";
      continue;
    }
    out += "<tr><td>" + day(start) + "</td><td class=\"num\">" + num(it->records) + "</td><td class=\"num\">" +
           num(it->points) + "</td><td>" + utc(it->first_ms, "%H:%M:%SZ") + "</td><td>" + utc(it->last_ms, "%H:%M:%SZ") +
           "</td><td class=\"num\">" + std::to_string(it->first_seq) + " to " + std::to_string(it->last_seq) +
           "</td></tr>\n";
  }
  out += "</tbody></table>\n<form method=\"get\" action=\"page\"><label>days <input name=\"days\" type=\"number\" "
         "min=\"1\" max=\"366\" value=\"" + std::to_string(p.days) + "\"></label><label>up to (UTC day) <input "
         "name=\"until\" type=\"date\" value=\"" + day(p.to_ms - kDayMs) + "\"></label><button>Show</button></form>\n";
}

void reports_section(std::string& out, const SitePage& p) {
  out += "<h2>Monitoring reports</h2>\n";
  if (p.reports.empty()) {
    out += "<p class=\"muted\">No report uploaded.</p>\n";
    return;
  }
  out += "<table id=\"reports\"><thead><tr><th>SHA-256 (download)</th><th>bytes</th><th>received</th></tr></thead>"
         "<tbody>\n";
  for (const auto& r : p.reports)
    out += "<tr><td><a href=\"reports/" + html_escape(r.sha256) + "\"><code>" + html_escape(r.sha256) +
           "</code></a></td><td class=\"num\">" + num(r.bytes) + "</td><td>" + utc(r.received_ms) + "</td></tr>\n";
  out += "</tbody></table>\n";
}

void bundle_section(std::string& out, const SitePage& p) {
  out += "<h2>Bundles</h2>\n";
  if (!p.bundles) {
    out += "<p class=\"muted\">This registry makes no bundles (no [bundle] key_file).</p>\n";
    return;
  }
  out += "<p>A verifier bundle (docs/verification.md §4) of the readings with from &le; ts &lt; to, signed by the "
         "registry; check it with <code>mrv-agent verify</code> or <code>docs/verify_bundle.py</code>.</p>\n"
         "<form id=\"bundle\" method=\"get\" action=\"bundle\"><label>from (UTC day) <input name=\"from\" type=\"date\" "
         "required value=\"" + day(p.from_ms) + "\"></label><label>to, not included <input name=\"to\" type=\"date\" "
         "required value=\"" + day(p.to_ms) + "\"></label><button>Download bundle</button></form>\n"
         "<p><a id=\"bundle-window\" href=\"bundle?from=" + day(p.from_ms) + "&amp;to=" + day(p.to_ms) +
         "\">The bundle of the window shown</a></p>\n";
}

std::string head(const std::string& title) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<link rel=\"icon\" href=\"data:,\">\n<title>" + title + " \xE2\x80\x94 mrv-registry</title>\n<style>" +
         kStyle + "</style>\n</head><body>\n";
}

// A site id as one path segment: every byte but [A-Za-z0-9._-] percent-encoded.
std::string path_segment(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string render_site_index(const std::vector<SiteIndexEntry>& sites, int64_t now_ms) {
  std::string out = head("Sites");
  out += "<h1>Sites</h1>\n<p class=\"muted\">" + utc(now_ms) + " (UTC). The sites this credential may read; each "
         "links to its page.</p>\n<table id=\"sites\"><thead><tr><th>site</th><th>records held</th><th>newest "
         "checkpoint</th><th>newest cosigned checkpoint</th></tr></thead><tbody>\n";
  for (const SiteIndexEntry& s : sites) {
    out += "<tr><td><a href=\"/v1/sites/" + path_segment(s.id) + "/page\">" + html_escape(s.id) + "</a></td>";
    if (!s.unavailable.empty()) {
      out += "<td colspan=\"3\" class=\"bad\">held back: " + html_escape(s.unavailable) + "</td></tr>\n";
      continue;
    }
    out += "<td class=\"num\">" + num(s.records) + "</td><td>" +
           (s.latest_size ? "tree size " + num(s.latest_size) + ", " + utc(s.latest_ms) : std::string(kDash)) +
           "</td><td" + (s.cosigned_size ? ">tree size " + num(s.cosigned_size) : " class=\"bad\">none") +
           "</td></tr>\n";
  }
  out += "</tbody></table>\n</body></html>\n";
  return out;
}

std::string render_site_page(const SitePage& p) {
  std::string out;
  out.reserve(16384 + p.coverage.size() * 300);
  std::string site = html_escape(p.site_id);
  out += head("Site " + site) + "<h1>Site <span id=\"site\">" + site + "</span></h1>\n<p class=\"muted\">" +
         utc(p.now_ms) + " (UTC). What this registry holds of the site, for verifiers; read-only. "
         "<a href=\"/v1/sites\">All sites</a></p>\n<table>\n";
  const JournalStats& s = p.stats;
  row(out, "records held", s.record_count ? "<span id=\"held\">" + num(s.record_count) + "</span> (seq " +
                                                std::to_string(s.first_seq) + " to " + std::to_string(s.last_seq) + ")"
                                          : std::string("<span id=\"held\">0</span>"));
  row(out, "waiting for a checkpoint", num(p.unproven_records) + " records (not yet proven by a signed checkpoint)");
  row(out, "newest checkpoint", p.latest ? "tree size " + num(p.latest->checkpoint.tree_size) + ", signed at " +
                                               utc(p.latest->checkpoint.time_ms)
                                         : std::string(kDash));
  row(out, "newest cosigned checkpoint", p.cosigned ? "tree size " + num(p.cosigned->checkpoint.tree_size) +
                                                          " (<a href=\"#cosigned\">below</a>)"
                                                    : std::string("<span class=\"bad\">none</span>"));
  out += "</table>\n";
  checkpoint_section(out, p);
  keys_section(out, p);
  coverage_section(out, p);
  reports_section(out, p);
  bundle_section(out, p);
  out += "</body></html>\n";
  return out;
}

}  // namespace mrv::registry
