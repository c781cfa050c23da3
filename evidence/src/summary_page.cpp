#include "mrv/evidence/summary_page.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <initializer_list>
#include <string_view>

#include "mrv/report/format.hpp"

namespace mrv::evidence {
namespace {

constexpr const char* kDash = "\xE2\x80\x94";  // — : no value

std::string esc(std::string_view s) { return report::html_escape(s); }
std::string or_dash(std::string_view s) { return s.empty() ? std::string(kDash) : esc(s); }
std::string code(std::string_view s) { return "<code>" + esc(s) + "</code>"; }
std::string num(double v) { return std::isfinite(v) ? report::format_decimal(v) : std::string(kDash); }

// Rounded down, so that 99.999 % never shows as 100 %.
std::string percent(double ratio) {
  if (!std::isfinite(ratio)) return kDash;
  return report::format_decimal(std::floor(ratio * 10000.0) / 100.0, 2) + " %";
}

std::string bad(const std::string& html) { return "<span class=\"bad\">" + html + "</span>"; }

// A pack path as a relative link: every byte but unreserved ones and '/' percent-encoded.
std::string href(std::string_view path) {
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += char(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string link(std::string_view path) { return "<a href=\"" + href(path) + "\">" + esc(path) + "</a>"; }

void row(std::string& out, std::initializer_list<std::string> cells, const char* tag = "td") {
  out += "<tr>";
  for (const auto& c : cells) out += std::string("<") + tag + ">" + c + "</" + tag + ">";
  out += "</tr>\n";
}

void table_open(std::string& out, std::initializer_list<std::string> head) {
  out += "<table>\n<thead>";
  row(out, head, "th");
  out += "</thead>\n<tbody>\n";
}

void table_close(std::string& out) { out += "</tbody></table>\n"; }

void kv(std::string& out, std::string_view label, const std::string& html) {
  out += "<tr><th scope=\"row\">" + esc(label) + "</th><td>" + html + "</td></tr>\n";
}

constexpr const char* kStyle = R"(
:root{--ink:#1b1f24;--muted:#5b6470;--line:#c9d0d8;--bad:#a4161a;--ok:#1e6b32;--accent:#1d5d9b}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);
 max-width:1100px;margin:0 auto;padding:1.5rem;line-height:1.4;font-size:15px}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;border-bottom:2px solid var(--line);margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid var(--line);padding:.25rem .45rem;
 text-align:left;vertical-align:top;overflow-wrap:anywhere}thead th{background:#eef2f6}th[scope=row]{width:15rem;font-weight:600}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.85em;word-break:break-all}
pre{white-space:pre-wrap;background:#f5f7f9;border:1px solid var(--line);padding:.5rem}
.headline{border:2px solid var(--accent);padding:.8rem 1rem;margin:1rem 0;border-radius:6px}
.headline .big{font-size:2rem;font-weight:700}.muted{color:var(--muted)}.bad{color:var(--bad);font-weight:600}
.ok{color:var(--ok);font-weight:600}ol.steps li{margin:.4rem 0}
@page{size:A4;margin:14mm}
@media print{body{max-width:none;padding:0;font-size:10pt}thead th,pre{background:none}
 table,pre,.headline,li{page-break-inside:avoid;break-inside:avoid}h2{page-break-after:avoid}
 a{color:inherit;text-decoration:none}}
)";

void header(std::string& out, const SummaryInputs& in) {
  const report::Report& r = *in.report;
  const MonitoringConfig* m = r.monitoring;
  out += "<header>\n<p class=\"muted\">Evidence pack " + std::string(kDash) + " verification summary</p>\n<h1>" +
         (m && !m->reference_number.empty() ? esc(m->reference_number) + " " : "") +
         (m && !m->title.empty() ? esc(m->title) : esc(r.site_id)) + " " + kDash + " " + esc(r.period.name) +
         "</h1>\n<table>\n";
  kv(out, "Project reference number", m ? or_dash(m->reference_number) : kDash);
  kv(out, "Project title", m ? or_dash(m->title) : kDash);
  kv(out, "Methodology", m ? or_dash(m->methodology) + " version " + or_dash(m->version) : kDash);
  kv(out, "Site", or_dash(r.site_id));
  const report::PeriodFacts& f = r.period_facts;
  kv(out, "Monitoring period",
     esc(r.period.name) + ": " + or_dash(f.jcm_dates) + " (local dates " + or_dash(f.first_local_date) + " to " +
         or_dash(f.last_local_date) + " inclusive, time zone " + or_dash(f.time_zone) + ")");
  kv(out, "Period in UTC", report::format_time(r.period.start_ms) + " to " + report::format_time(r.period.end_ms) +
                               " (end exclusive)");
  if (!f.crediting_jcm_dates.empty()) kv(out, "Crediting period", esc(f.crediting_jcm_dates));
  kv(out, "Report generated", report::format_time(r.generated_ms));
  kv(out, "Pack made", report::format_time(in.generated_ms));
  out += "</table>\n</header>\n";
}

void headline(std::string& out, const SummaryInputs& in) {
  const report::Report& r = *in.report;
  out += "<section class=\"headline\">\n<div>Credited emission reductions</div>\n<div class=\"big\">" +
         std::to_string(r.credited_tco2) + " tCO2</div>\n<div class=\"muted\">exact: " + num(r.emission_reductions) +
         " tCO2 (" + (r.monitoring ? esc(r.monitoring->emission_reductions) : std::string(kDash)) +
         "), rounded down to whole tonnes. Signed report <a href=\"report.json\">report.json</a>, SHA-256 " +
         code(in.signed_report_sha256_hex) + ".</div>\n";
  if (!r.complete) out += "<p class=\"bad\">Incomplete report: a parameter had no usable data, so nothing is credited.</p>\n";
  for (const auto& n : r.notes) out += "<p>" + esc(n) + "</p>\n";
  out += "</section>\n";
}

void keys_section(std::string& out, const SummaryInputs& in) {
  out += "<section>\n<h2>Who signed the data</h2>\n<p>Every record of the journal, the checkpoints, the report and the "
         "bundle's manifest are signed by the site's key. <strong>The key is pinned out of band:</strong> the "
         "registry and the verifier hold the site's public key from its registration, not from this pack. Compare "
         "the fingerprint below with the one you were given; a key file in this pack proves nothing on its own.</p>\n";
  table_open(out, {"Key id = SHA-256 fingerprint of the public key (DER SubjectPublicKeyInfo)", "Algorithm", "Signs",
                   "Public key"});
  for (const auto& k : in.keys)
    row(out, {code(k.key_id_hex), esc(k.algorithm), k.signs_report ? "records, report, manifest" : "records",
              link(k.pack_path) + "<pre>" + esc(k.pem) + "</pre>"});
  table_close(out);
  out += "</section>\n";
}

void checkpoint_section(std::string& out, const SummaryInputs& in) {
  const report::Report& r = *in.report;
  out += "<section>\n<h2>The checkpoint the report rests on</h2>\n<p>The report's records (seq " +
         std::to_string(r.seqs.first) + " to " + std::to_string(r.seqs.last) + ", " + std::to_string(r.seqs.records) +
         " records read) are covered by this signed checkpoint (a C2SP signed note: origin, tree size, Merkle root, "
         "signature):</p>\n";
  out += r.annex.end_checkpoint.empty() ? "<p class=\"bad\">none</p>\n" : "<pre>" + esc(r.annex.end_checkpoint) + "</pre>\n";
  if (!r.annex.previous_checkpoint.empty())
    out += "<p>It is consistent with the previous period's checkpoint (the proof is in the report's annex):</p>\n<pre>" +
           esc(r.annex.previous_checkpoint) + "</pre>\n";
  out += "<h3>The registry's receipt</h3>\n<p>";
  if (in.upload_url.empty())
    out += "Not uploaded: this site has no registry configured ([upload]).";
  else if (in.upload_cursor >= r.seqs.last && r.seqs.last > 0)
    out += "<span class=\"ok\">Receipted</span>: the registry at " + code(in.upload_url) +
           " has receipted every record through seq " + std::to_string(in.upload_cursor) +
           ", which covers the report's records (through seq " + std::to_string(r.seqs.last) + ").";
  else
    out += bad("Not yet receipted") + ": the registry at " + code(in.upload_url) + " has receipted records through seq " +
           std::to_string(in.upload_cursor) + " (upload cursor); the report's records run to seq " +
           std::to_string(r.seqs.last) + ".";
  out += "</p>\n</section>\n";
}

void coverage_section(std::string& out, const report::Report& r) {
  out += "<section>\n<h2>Coverage and gaps per point</h2>\n";
  table_open(out, {"Parameter", "Point", "Readings / expected", "Coverage", "Gaps", "Gap hours", "Manual readings",
                   "Excluded"});
  bool any = false;
  for (const auto& p : r.parameters)
    for (const auto& pt : p.points) {
      any = true;
      std::string cov = percent(pt.coverage);
      row(out, {code(p.config ? p.config->id : ""), code(pt.point_id),
                std::to_string(pt.readings) + " / " + std::to_string(pt.expected_readings),
                pt.coverage < 0.99995 ? bad(cov) : cov, std::to_string(pt.gaps.size()), num(pt.gap_hours),
                std::to_string(pt.manual_readings),
                std::to_string(pt.excluded_quality + pt.excluded_unit + pt.out_of_order)});
    }
  if (!any) row(out, {"no measured parameter", kDash, kDash, kDash, kDash, kDash, kDash, kDash});
  table_close(out);
  out += "<p class=\"muted\">Each gap, the rule applied to it and the notes explaining it are in "
         "<a href=\"report.html\">report.html</a>.</p>\n</section>\n";
}

void calibration_section(std::string& out, const SummaryInputs& in) {
  const report::Report& r = *in.report;
  out += "<section>\n<h2>Calibration per meter</h2>\n";
  table_open(out, {"Point", "Meter", "Accuracy class", "Valid until (config)", "Calibration coverage",
                   "Failed / expired hours", "Readings out of calibration", "Recorded calibrations"});
  for (const auto& p : r.parameters)
    for (const auto& pt : p.points) {
      const auto& c = pt.calibration;
      std::string cov = !c.stated ? bad("unknown: none recorded or configured")
                        : c.coverage < 0.99995 ? bad(percent(c.coverage))
                                               : "<span class=\"ok\">" + percent(c.coverage) + "</span>";
      std::string recorded;
      for (const auto& u : c.calibrations) {
        std::string cert;
        for (const auto& d : in.documents)
          if (d.seq == u.seq) cert = " " + (d.pack_name.empty() ? code(d.sha256_hex) : link("documents/" + d.pack_name));
        recorded += "<div>seq " + std::to_string(u.seq) + ": " + esc(u.summary) + cert + "</div>";
      }
      row(out, {code(pt.point_id), or_dash(pt.meter_serial), or_dash(pt.accuracy_class),
                or_dash(pt.calibration_valid_until), cov, num(c.failed_h) + " / " + num(c.expired_h),
                pt.out_of_calibration ? bad(std::to_string(pt.out_of_calibration)) : std::string("0"),
                recorded.empty() ? std::string(kDash) : recorded});
    }
  table_close(out);
  out += "</section>\n";
}

void checks_section(std::string& out, const report::Report& r) {
  out += "<section>\n<h2>Cross-checks</h2>\n";
  if (r.cross_checks.empty()) {
    out += "<p>None declared in the monitoring plan.</p>\n";
  } else {
    table_open(out, {"Check", "Value", "Reference", "Difference", "Tolerance", "Result"});
    for (const auto& x : r.cross_checks) {
      if (!x.config) continue;
      row(out, {code(x.config->id) + (x.config->description.empty() ? "" : " " + esc(x.config->description)),
                code(x.config->value) + " " + (x.value ? num(*x.value) : std::string("no data")),
                code(x.config->reference) + " " + (x.reference ? num(*x.reference) : std::string("no data")),
                x.value && x.reference ? num(x.difference_percent) + " %" : std::string(kDash),
                num(x.config->tolerance_percent) + " %",
                x.pass ? std::string("<span class=\"ok\">pass</span>") : bad("FAIL (a finding)")});
    }
    table_close(out);
  }
  out += "<h2>Corrections</h2>\n";
  bool any = false;
  for (const auto& p : r.parameters) {
    if (p.correction == 0 || !p.config) continue;
    if (!any) table_open(out, {"Parameter", "Measured", "Correction", "Used", "Why"});
    any = true;
    std::string why;
    for (const auto& n : p.notes) why += "<div>" + esc(n) + "</div>";
    row(out, {code(p.config->id), num(p.measured) + " " + esc(p.config->unit), num(p.correction) + " " + esc(p.config->unit),
              num(p.value) + " " + esc(p.config->unit), why.empty() ? std::string(kDash) : why});
  }
  if (any) table_close(out);
  else out += "<p>No correction was applied to any parameter.</p>\n";
  out += "</section>\n";
}

void documents_section(std::string& out, const SummaryInputs& in) {
  out += "<section>\n<h2>Documents</h2>\n<p>The files the report's site records name by SHA-256, copied from the "
         "site's documents folder after their SHA-256 was checked against the signed record.</p>\n";
  if (in.documents.empty()) {
    out += "<p>None: the report used no site record that names a file.</p>\n</section>\n";
    return;
  }
  table_open(out, {"Record", "Kind", "Number", "What it says", "File", "SHA-256 (as recorded and as in the pack)"});
  for (const auto& d : in.documents)
    row(out, {"seq " + std::to_string(d.seq), esc(d.kind == "calibration"      ? "calibration certificate"
                                                  : d.kind == "manual-reading" ? "photo of a manual reading"
                                                                               : "document"),
              or_dash(d.number), esc(d.summary), link("documents/" + d.pack_name), code(d.sha256_hex)});
  table_close(out);
  out += "</section>\n";
}

void files_section(std::string& out, const SummaryInputs& in) {
  out += "<section>\n<h2>Files of this pack</h2>\n";
  table_open(out, {"File", "Bytes", "SHA-256"});
  for (const auto& f : in.files) row(out, {link(f.path), std::to_string(f.bytes), code(f.sha256_hex)});
  row(out, {"index.html (this page)", kDash, "in SHA256SUMS"});
  table_close(out);
  out += "</section>\n";
}

void reverify_section(std::string& out, const SummaryInputs& in) {
  std::string keys;
  for (const auto& k : in.keys) keys += " --public-key " + k.pack_path;
  std::string first_key = in.keys.empty() ? "keys/KEY.pem" : in.keys.front().pack_path;
  out += "<section>\n<h2>How to re-verify</h2>\n<ol class=\"steps\">\n";
  out += "<li><strong>The pack is complete and unchanged.</strong> In this folder: <pre>sha256sum -c SHA256SUMS</pre>"
         "Every line must say <code>OK</code>. Without sha256sum, compute each file's SHA-256 and compare it with "
         "the table above and with SHA256SUMS: <pre>openssl dgst -sha256 report.json\ncertutil -hashfile report.json "
         "SHA256          (Windows)\nGet-FileHash -Algorithm SHA256 report.json   (Windows PowerShell)</pre></li>\n";
  out += "<li><strong>The key is the site's.</strong> Its fingerprint must be the one the registry pinned at "
         "registration: <pre>openssl pkey -pubin -in " + esc(first_key) +
         " -outform DER | openssl dgst -sha256</pre> Use the key you were given out of band in the next steps.</li>\n";
  out += "<li><strong>The records, checkpoints and the report recompute.</strong> With mrv-agent: <pre>mrv-agent verify "
         "bundle.tar.gz" + esc(keys) + "</pre> or, without our binary, with the independent verifier written from "
         "the specification (<code>docs/verify_bundle.py</code> in mrv-agent's source; Python 3 and "
         "<code>cryptography</code>): <pre>python3 verify_bundle.py bundle.tar.gz" + esc(keys) +
         "</pre> Exit 0: VALID; 3: valid with declared chain breaks to look at; 4: valid with metrology findings "
         "(a failed cross-check or calibration); 1: INVALID. The bundle carries report.json, and both verifiers "
         "recompute every parameter and result from the signed records.</li>\n";
  out += "<li><strong>The report's signature</strong> (also checked inside the bundle): <pre>python3 verify_report.py "
         "report.json --public-key " + esc(first_key) + "</pre> (<code>docs/verify_report.py</code> in mrv-agent's "
         "source).</li>\n";
  out += "<li><strong>The documents are those recorded.</strong> Each file's SHA-256 in <code>documents/</code> must "
         "equal the <code>certificate_sha256</code> or <code>file_sha256</code> of its signed site record (the "
         "record lines are in report.json, <code>site_records</code>); step 1 checks the copies, the table above "
         "names the record of each.</li>\n";
  out += "<li><strong>Numbers for people.</strong> <a href=\"report.html\">report.html</a> (printable), "
         "<a href=\"report.xlsx\">report.xlsx</a> (the JCM Monitoring Report Sheet) and <a href=\"report.csv\">"
         "report.csv</a> are renderings of report.json.</li>\n</ol>\n</section>\n";
}

}  // namespace

std::string render_summary_page(const SummaryInputs& in) {
  if (!in.report) return {};
  const report::Report& r = *in.report;
  std::string out;
  out.reserve(32 * 1024);
  out += report::html_page_start("Verification summary " + r.site_id + " " + kDash + " " + r.period.name, kStyle);
  header(out, in);
  out += "<main>\n";
  headline(out, in);
  keys_section(out, in);
  checkpoint_section(out, in);
  coverage_section(out, r);
  calibration_section(out, in);
  checks_section(out, r);
  documents_section(out, in);
  files_section(out, in);
  reverify_section(out, in);
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace mrv::evidence
