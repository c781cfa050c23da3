// A bundle's report and the site records it carries (issue 16, docs/verification.md §6
// step 9 and 10): a real journal with readings and people's entries (a failed
// calibration, a meter exchange, an invoice that fails its cross-check), the report made
// and signed by the agent's code, exported into a bundle and verified; then forgeries of
// the report's site record lines, each refused with its reason.
#include <catch2/catch.hpp>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "mrv/agent/report_builder.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/site_record.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/evidence/bundle.hpp"
#include "mrv/report/engine.hpp"
#include "mrv/report/format.hpp"
#include "mrv/report/json.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::test;
using nlohmann::json;

namespace {

constexpr int64_t kMin = 60'000, kHour = 60 * kMin, kDay = 24 * kHour;
const int64_t kStart = *parse_time_ms("2026-01-01T00:00:00Z");
const int64_t kEnd = kStart + 30 * kDay;  // period "2026-01"

// A PV site whose export register has a config calibration date before the period (so
// only a recorded calibration covers its readings), an option B parameter from invoices
// and a cross-check of the two.
std::string site_config(const std::string& calibration_date) {
  return R"x([site]
id = "pv-site"
[journal]
path = "journal.db"
[signing]
key_file = "ed25519-test.key"
[[points]]
id = "pv1.export_kwh"
unit = "kWh"
kind = "cumulative"
interval_ms = 900000
meter_serial = "EXP-1"
accuracy_class = "0.5S"
calibration_valid_until = )x" + calibration_date + R"x(
[monitoring]
methodology = "MN_AM003"
version = "1.0"
[[monitoring.parameters]]
id = "EG_p"
description = "Electricity delivered to the grid"
unit = "MWh"
aggregation = "counter"
point = "pv1.export_kwh"
[[monitoring.parameters]]
id = "EF_grid"
unit = "tCO2/MWh"
aggregation = "fixed"
value = 0.797
source = "Mongolia national grid emission factor (JCM)"
monitoring_option = "A"
[[monitoring.parameters]]
id = "EG_invoice"
description = "Electricity sold, by the utility's invoices"
unit = "MWh"
aggregation = "documents"
document_type = "invoice"
[[monitoring.cross_checks]]
id = "EG_vs_invoice"
value = "EG_p"
reference = "EG_invoice"
tolerance_percent = 2
[[monitoring.formulas]]
id = "ER_p"
expression = "EG_p * EF_grid"
unit = "tCO2"
[[monitoring.periods]]
name = "2026-01"
start = 2026-01-01T00:00:00Z
end = 2026-01-31T00:00:00Z
)x";
}

class Site {
 public:
  explicit Site(const std::string& calibration_date = "2025-12-31", bool checkpoint_only = false)
      : text_(site_config(calibration_date)) {
    auto c = parse_config(text_, dir_ / "site.toml");
    if (!c) FAIL(c.error().front().to_string());
    config_ = std::move(*c);
    auto options = journal_options(dir_);
    options.site_id = "pv-site";
    options.config_hash_hex = config_.hash_hex;
    options.config_text = text_;
    options.checkpoint_only = checkpoint_only;
    auto j = Journal::open_for_writing(options, test_signer(dir_));
    if (!j) FAIL(j.error().to_string());
    journal_.emplace(std::move(*j));
  }

  // The export register every 15 min over [from, to), from `at_from` by `step` kWh.
  void register_run(int64_t from, int64_t to, double at_from, double step) {
    std::vector<AcceptedReading> batch;
    double v = at_from;
    for (int64_t t = from; t < to; t += 15 * kMin, v += step) {
      batch.push_back(accepted("pv1.export_kwh", t, report::format_decimal(v, 3)));
      if (batch.size() >= 2048) append(batch);
    }
    append(batch);
  }
  // A person's entry, signed into the chain; returns its seq.
  uint64_t enter(const SiteRecord& r) {
    auto reading = site_record_reading(r);
    if (!reading) FAIL(reading.error().to_string());
    AcceptedReading a;
    a.reading = *reading;
    a.received = {r.ts_ms + kDay, 1, ClockSync::synchronised};
    a.type = RecordType::site_record;
    std::vector<AcceptedReading> one{a};
    append(one);
    return journal_->last_seq();
  }
  void checkpoint() {
    auto cp = journal_->checkpoint("test");
    if (!cp) FAIL(cp.error().to_string());
  }
  report::Report report() {
    checkpoint();
    auto r = agent::build_report(*journal_, config_, "2026-01");
    if (!r) FAIL(r.error().to_string());
    return std::move(*r);
  }
  const Config& config() const { return config_; }
  const std::string& config_text() const { return text_; }
  Journal& journal() { return *journal_; }
  const TempDir& dir() const { return dir_; }
  // Closes the journal (its WAL folded into the file), so the folder can be copied.
  void close() { journal_.reset(); }

 private:
  void append(std::vector<AcceptedReading>& batch) {
    if (batch.empty()) return;
    auto r = journal_->append(batch);
    if (!r) FAIL(r.error().to_string());
    batch.clear();
  }

  TempDir dir_;
  std::string text_;
  Config config_;
  std::optional<Journal> journal_;
};

SiteRecord entry(SiteRecordKind kind, const std::string& point, int64_t ts_ms, std::string value, std::string unit,
                 std::map<std::string, std::string> details) {
  static int n = 0;
  SiteRecord r;
  r.kind = kind;
  char id[33];
  std::snprintf(id, sizeof id, "%032x", ++n);
  r.id = id;
  r.entered_by = "A. Tanaka";
  r.login = "tanaka";
  r.point = point;
  r.ts_ms = ts_ms;
  r.value = std::move(value);
  r.unit = std::move(unit);
  r.details = std::move(details);
  return r;
}

SiteRecord calibration(int64_t at, const std::string& serial, bool pass, const std::string& error, int64_t valid_until) {
  return entry(SiteRecordKind::calibration, "pv1.export_kwh", at, error, "%",
               {{"meter_serial", serial}, {"laboratory", "NMI Mongolia"}, {"certificate", "C-" + serial},
                {"certificate_sha256", std::string(64, 'c')}, {"result", pass ? "pass" : "fail"},
                {"valid_until", report::format_time(valid_until)}});
}

SiteRecord invoice(int64_t from, int64_t to, const std::string& kwh, const std::string& number) {
  return entry(SiteRecordKind::document, "", from, kwh, "kWh",
               {{"document_type", "invoice"}, {"number", number}, {"issuer", "NPG"},
                {"period_to", report::format_time(to)}, {"file_sha256", std::string(64, 'f')},
                {"file_name", number + ".pdf"}});
}

// The seqs of the scenario's site records.
struct Entered {
  uint64_t exchange = 0, new_calibration = 0, failed_calibration = 0, invoice = 0, old_pass = 0;
};

// Meter EXP-1 until day 10, exchanged for EXP-2 (recorded, with EXP-2's passing
// calibration); EXP-1 found 3 % off on day 5 (failed calibration); an invoice 5 % above
// the meter; and EXP-1's passing calibration of a month before the period, entered last
// (outside the window, so after every record of the window's range, with a checkpoint
// before it: only a bundle reaching the report's seqs.last holds the report's end
// checkpoint).
Entered scenario(Site& site) {
  site.register_run(kStart, kStart + 10 * kDay + 1, 5000.0, 10.0);  // EXP-1 to 14,600 at day 10
  const int64_t swap = kStart + 10 * kDay + 30 * kMin;              // EXP-1 removed at 14,620
  site.register_run(swap + 30 * kMin, kEnd + kHour, 20.0, 10.0);    // EXP-2 from 0
  Entered e;
  e.exchange = site.enter(entry(SiteRecordKind::meter_exchange, "pv1.export_kwh", swap, "", "kWh",
                                {{"old_serial", "EXP-1"}, {"old_final", "14620"}, {"new_serial", "EXP-2"},
                                 {"new_initial", "0"}}));
  e.new_calibration = site.enter(calibration(swap, "EXP-2", true, "0.1", swap + 365 * kDay));
  e.failed_calibration = site.enter(calibration(kStart + 5 * kDay, "EXP-1", false, "3", kStart + 370 * kDay));
  e.invoice = site.enter(invoice(kStart, kEnd, "30240", "INV-1"));  // 28.8 MWh metered, 30.24 invoiced
  site.checkpoint();
  e.old_pass = site.enter(calibration(kStart - 31 * kDay, "EXP-1", true, "0.2", kStart + 334 * kDay));
  return e;
}

std::vector<PublicKey> pinned_key(Signer& signer) {
  auto key = PublicKey::from_pem(signer.public_pem());
  REQUIRE(key);
  std::vector<PublicKey> keys;
  keys.push_back(std::move(*key));
  return keys;
}

evidence::BundleVerdict bundle_and_verify(Site& site, const std::string& report_text, Signer& signer,
                                          const std::filesystem::path& out, uint64_t reach_seq) {
  auto parsed = report::parse_signed_report(report_text);
  REQUIRE(parsed);
  evidence::BundleRequest request;
  request.from_ms = parsed->window_from_ms;
  request.to_ms = parsed->window_to_ms;
  request.out = out;
  request.signer = &signer;
  request.report_json = report_text;
  request.reach_seq = reach_seq;
  auto written = evidence::write_bundle(site.journal(), "pv-site", request);
  if (!written) FAIL(written.error().to_string());
  auto keys = pinned_key(signer);
  return evidence::verify_bundle(out, keys, std::nullopt);
}

// The report with `change` made to its JSON (without the signature), signed again with
// the site's key: what someone holding the key could make.
std::string resign(const std::string& text, Signer& signer, const std::function<void(json&)>& change) {
  json j = json::parse(text);
  j.erase("signature");
  change(j);
  std::string canonical = j.dump();
  auto sig = signer.sign(canonical);
  REQUIRE(sig);
  return report::signed_report_json(canonical, {std::string(to_string(signer.algorithm())), signer.key_id_hex(),
                                                 to_base64(*sig)});
}

json& line_of(json& report, uint64_t seq) {
  for (json& l : report["site_records"]["lines"])
    if (l["seq"] == seq) return l;
  throw std::runtime_error("no site record line of seq " + std::to_string(seq));
}

void drop_line(json& report, uint64_t seq) {
  json& lines = report["site_records"]["lines"];
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i]["seq"] == seq) {
      lines.erase(i);
      return;
    }
  throw std::runtime_error("no site record line of seq " + std::to_string(seq));
}

bool any_of(const std::vector<std::string>& texts, const std::string& part) {
  for (const auto& t : texts)
    if (t.find(part) != std::string::npos) return true;
  return false;
}

std::string report_failure(const evidence::BundleVerdict& v) {
  return v.failures.count("report") ? v.failures.at("report") : std::string();
}

// The report as someone would make it who left out one site record: the same engine over
// the same journal without it, so the numbers match their own site records.
report::Report report_without(Site& site, const report::Report& real, uint64_t skipped) {
  const Config& config = site.config();
  const MonitoringPeriod& period = config.monitoring.periods.front();
  report::ReportEngine engine(config, period, [](const std::string&) -> const Config* { return nullptr; });
  auto site_records = site.journal().site_records(UINT64_MAX);
  REQUIRE(site_records);
  for (const StoredRecord& r : *site_records)
    if (r.seq != skipped) engine.add_site_record(*decode_record(r.canonical));
  auto range = agent::report_seq_range(site.journal(), config.monitoring, period);
  REQUIRE(range);
  REQUIRE(*range);
  REQUIRE(site.journal().for_each_record((*range)->first, (*range)->second,
                                         [&](const StoredRecord& r) { engine.push(*decode_record(r.canonical)); }));
  auto forged = engine.finish();
  REQUIRE(forged);
  forged->generated_ms = real.generated_ms;
  forged->annex = real.annex;
  forged->site_records_through = real.site_records_through;
  for (const RecordLine& l : real.site_records)
    if (l.seq != skipped) forged->site_records.push_back(l);
  return std::move(*forged);
}

// For tests/integration/site_records_report_test.py: the report, the site's public key and
// the journal with its config, written where MRV_SITE_RECORDS_OUT says (nothing when unset).
void write_for_integration(Site& site, const std::string& report_text, Signer& signer) {
  const char* out = std::getenv("MRV_SITE_RECORDS_OUT");
  if (!out || !*out) return;
  std::filesystem::path dir(out);
  std::filesystem::create_directories(dir);
  write_text(dir / "report.json", report_text);
  write_text(dir / "site.pem", signer.public_pem());
  site.close();  // the journal's WAL folded into its file
  for (const auto& f : std::filesystem::directory_iterator(site.dir().path()))
    if (f.is_regular_file())
      write_text(dir / f.path().filename(), read_text(f.path()));  // 0600: the key file must be
  write_text(dir / "site.toml", site.config_text());
}

}  // namespace

TEST_CASE("bundle: a report with site records verifies, its failed calibration and cross-check are findings",
          "[bundle][report][site][site-records-out]") {
  Site site;
  Entered e = scenario(site);
  auto r = site.report();
  // The report used the old passing calibration, entered after the window's records.
  REQUIRE(r.seqs.last == e.old_pass);
  REQUIRE(r.site_records.size() == 5);
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  auto v = bundle_and_verify(site, *text, signer, dir / "bundle.tar.gz", r.seqs.last);
  INFO(v.to_text());
  CHECK(v.failures.empty());
  CHECK(v.last_seq == e.old_pass);
  CHECK(any_of(v.notes, "report 2026-01: recomputed from the bundle's records, every parameter and result matches"));
  CHECK(v.exit_code() == 4);
  CHECK(v.verdict() == "VALID WITH METROLOGY FINDINGS");
  // One finding per failed cross-check, with both values (the meter's after its
  // calibration correction) and the difference.
  REQUIRE(r.cross_checks.size() == 1);
  const auto& x = r.cross_checks[0];
  CHECK_FALSE(x.pass);
  CHECK(*x.value < 28.8);
  CHECK(any_of(v.findings, "report 2026-01: cross-check EG_vs_invoice failed: EG_p " + report::format_decimal(*x.value) +
                               " MWh against EG_invoice 30.24 MWh differ by " +
                               report::format_decimal(x.difference_percent, 4) + " % (tolerance 2 %)"));
  // The failed calibration, naming the meter and the certificate.
  CHECK(any_of(v.findings, "meter EXP-1 (point pv1.export_kwh): calibration of 2026-01-06T00:00:00Z failed, error 3 %, "
                           "certificate C-EXP-1"));
  CHECK(any_of(v.findings, "site record seq " + std::to_string(e.failed_calibration)));
  // The config's calibration date passed before the period, but EXP-1's recorded passing
  // calibration (carried by the report only) covers every reading: no expiry finding.
  CHECK_FALSE(any_of(v.findings, "calibration valid until"));
  CHECK(v.findings.size() == 2);
  write_for_integration(site, *text, signer);
}

TEST_CASE("bundle: export with a report reaches its seqs.last, so its end checkpoint is in the bundle",
          "[bundle][report][site]") {
  Site site;
  Entered e = scenario(site);
  auto r = site.report();
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  // The window's records end before the old calibration, and a checkpoint closes them:
  // without reaching seqs.last the bundle's closing checkpoint is not the report's.
  auto short_bundle = bundle_and_verify(site, *text, signer, dir / "short.tar.gz", 0);
  CHECK(short_bundle.last_seq == e.invoice);
  CHECK(report_failure(short_bundle).find("its end checkpoint is not one of the bundle's checkpoints") !=
        std::string::npos);
  auto reaching = bundle_and_verify(site, *text, signer, dir / "reaching.tar.gz", r.seqs.last);
  INFO(reaching.to_text());
  CHECK(reaching.failures.empty());
  CHECK(reaching.last_seq == r.seqs.last);

  // A seq the journal never wrote is refused at export.
  evidence::BundleRequest request;
  request.from_ms = r.window_from_ms;
  request.to_ms = r.window_to_ms;
  request.out = dir / "beyond.tar.gz";
  request.signer = &signer;
  request.reach_seq = site.journal().last_seq() + 1;
  auto beyond = evidence::write_bundle(site.journal(), "pv-site", request);
  REQUIRE_FALSE(beyond);
  CHECK(beyond.error().message.find("beyond this journal's last record") != std::string::npos);
}

TEST_CASE("bundle: a report's site record line changed and re-hashed fails its signature", "[bundle][report][site]") {
  Site site;
  Entered e = scenario(site);
  auto r = site.report();
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  // The failed calibration made to pass: its bytes changed, its hash made again, the
  // report re-signed; the record's own signature is the one thing that cannot be redone.
  auto forged = resign(*text, signer, [&](json& j) {
    json& line = line_of(j, e.failed_calibration);
    std::string record = line["record"];
    auto at = record.find(R"(\"result\":\"fail\")");
    REQUIRE(at != std::string::npos);
    record.replace(at, 19, R"(\"result\":\"pass\")");
    line["record"] = record;
    line["hash"] = to_hex(sha256(record));
  });
  auto v = bundle_and_verify(site, forged, signer, dir / "forged.tar.gz", r.seqs.last);
  INFO(v.to_text());
  CHECK(v.exit_code() == 1);
  CHECK(report_failure(v).find("(seq " + std::to_string(e.failed_calibration) +
                               "): its signature does not verify with a trusted key") != std::string::npos);

  // Changed but not re-hashed: the hash says so first.
  auto unhashed = resign(*text, signer, [&](json& j) {
    json& line = line_of(j, e.old_pass);
    std::string record = line["record"];
    record.replace(record.find("NMI Mongolia"), 3, "XYZ");
    line["record"] = record;
  });
  auto u = bundle_and_verify(site, unhashed, signer, dir / "unhashed.tar.gz", r.seqs.last);
  CHECK(report_failure(u).find("hash is not the SHA-256 of its record") != std::string::npos);
}

TEST_CASE("bundle: a report that drops a site record the bundle's records hold is refused", "[bundle][report][site]") {
  Site site;
  Entered e = scenario(site);
  auto r = site.report();
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  auto dropped = resign(*text, signer, [&](json& j) { drop_line(j, e.failed_calibration); });
  auto v = bundle_and_verify(site, dropped, signer, dir / "dropped.tar.gz", r.seqs.last);
  INFO(v.to_text());
  CHECK(v.exit_code() == 1);
  CHECK(report_failure(v).find("the report leaves out site record seq " + std::to_string(e.failed_calibration)) !=
        std::string::npos);
}

TEST_CASE("bundle: a report re-made and re-signed without a site record is shown up by the range",
          "[bundle][report][site]") {
  Site site;
  Entered e = scenario(site);
  auto r = site.report();
  TempDir dir;
  auto signer = test_signer(dir);
  // Without the failed calibration the meter's readings need a smaller correction: more
  // credits, and numbers that agree with the site records the forged report carries.
  auto forged = report_without(site, r, e.failed_calibration);
  REQUIRE(report::recomputable_part(forged) != report::recomputable_part(r));
  CHECK(forged.emission_reductions > r.emission_reductions);
  auto text = agent::sign_report(forged, signer);
  REQUIRE(text);
  auto v = bundle_and_verify(site, *text, signer, dir / "remade.tar.gz", r.seqs.last);
  INFO(v.to_text());
  CHECK(v.exit_code() == 1);
  CHECK(report_failure(v).find("the report leaves out site record seq " + std::to_string(e.failed_calibration)) !=
        std::string::npos);
}

TEST_CASE("bundle: a report carrying another signed site record at a seq of the range is refused",
          "[bundle][report][site]") {
  Site site;
  Entered e = scenario(site);
  auto r = site.report();
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  // Someone with the site's key signs a passing calibration at the failed one's seq: the
  // line checks out alone, but the bundle's records hold the real one there.
  auto forged = resign(*text, signer, [&](json& j) {
    json& line = line_of(j, e.failed_calibration);
    auto fields = decode_record(line["record"].get<std::string>());
    REQUIRE(fields);
    auto at = fields->reading.reason.find(R"("result":"fail")");
    REQUIRE(at != std::string::npos);
    fields->reading.reason.replace(at, 15, R"("result":"pass")");
    std::string bytes;
    REQUIRE(encode_record(*fields, bytes));
    auto sig = signer.sign(bytes);
    REQUIRE(sig);
    line["record"] = bytes;
    line["hash"] = to_hex(sha256(bytes));
    line["signature"] = to_base64(*sig);
  });
  auto v = bundle_and_verify(site, forged, signer, dir / "other.tar.gz", r.seqs.last);
  INFO(v.to_text());
  CHECK(v.exit_code() == 1);
  CHECK(report_failure(v).find("the report carries a different site record at seq " +
                               std::to_string(e.failed_calibration)) != std::string::npos);
}

TEST_CASE("bundle: checkpoint-only site records in a report are proven by the range or rest on its signature",
          "[bundle][report][site]") {
  Site site("2025-12-31", true);
  // Entered before any reading, so before the bundle's range.
  uint64_t early = site.enter(calibration(kStart - 31 * kDay, "EXP-1", true, "0.2", kStart + 334 * kDay));
  site.register_run(kStart, kEnd + kHour, 0.0, 10.0);
  uint64_t failed = site.enter(calibration(kStart + 5 * kDay, "EXP-1", false, "3", kStart + 370 * kDay));
  auto r = site.report();
  REQUIRE(r.site_records.size() == 2);
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  auto v = bundle_and_verify(site, *text, signer, dir / "cp.tar.gz", r.seqs.last);
  INFO(v.to_text());
  CHECK(v.failures.empty());
  CHECK(v.first_seq > early);
  CHECK(any_of(v.notes, "site record seq " + std::to_string(early) + " is checkpoint-only (alg checkpoint) and "
                        "outside the bundle's records: it rests on the report's signature"));
  CHECK(any_of(v.findings, "site record seq " + std::to_string(failed)));

  // In the range its bytes must be the range's record: changed, re-hashed and re-signed
  // (the report), it is not.
  auto forged = resign(*text, signer, [&](json& j) {
    json& line = line_of(j, failed);
    std::string record = line["record"];
    record.replace(record.find(R"(\"result\":\"fail\")"), 19, R"(\"result\":\"pass\")");
    line["record"] = record;
    line["hash"] = to_hex(sha256(record));
  });
  auto f = bundle_and_verify(site, forged, signer, dir / "cp-forged.tar.gz", r.seqs.last);
  CHECK(report_failure(f).find("the report carries a different site record at seq " + std::to_string(failed)) !=
        std::string::npos);
}

TEST_CASE("bundle: a report with more than 100,000 site record lines is refused before any is checked",
          "[bundle][report][site][limits]") {
  Site site;
  site.register_run(kStart, kEnd + kHour, 0.0, 10.0);
  auto r = site.report();
  TempDir dir;
  auto signer = test_signer(dir);
  auto text = agent::sign_report(r, signer);
  REQUIRE(text);
  for (size_t count : {size_t{100'000}, size_t{100'001}}) {
    auto padded = resign(*text, signer, [&](json& j) {
      json lines = json::array();
      for (size_t i = 1; i <= count; ++i)
        lines.push_back({{"seq", i}, {"record", "x"}, {"hash", std::string(64, '0')}, {"signature", ""}});
      j["site_records"]["lines"] = std::move(lines);
    });
    auto v = bundle_and_verify(site, padded, signer, dir / "padded.tar.gz", r.seqs.last);
    INFO(count);
    std::string failure = report_failure(v);
    if (count == 100'000) {  // read: its first line fails on its own
      CHECK(failure.find("site_records line 1 (seq 1): hash is not the SHA-256 of its record") != std::string::npos);
    } else {
      CHECK(failure.find("it carries 100001 site records, more than the 100000 a verifier reads") != std::string::npos);
    }
  }
}

TEST_CASE("bundle: a passing calibration recorded in the range covers readings after the config's date",
          "[bundle][site][metrology]") {
  for (bool recorded : {false, true}) {
    Site site("2025-12-31");
    // In the range and before the readings (seen before them, as verify streams).
    if (recorded) site.enter(calibration(kStart - kDay, "EXP-1", true, "0.2", kStart + 364 * kDay));
    site.register_run(kStart, kStart + 2 * kDay, 0.0, 10.0);
    site.checkpoint();
    TempDir dir;
    auto signer = test_signer(dir);
    evidence::BundleRequest request;
    request.from_ms = kStart - 2 * kDay;
    request.to_ms = kStart + 2 * kDay;
    request.out = dir / "b.tar.gz";
    request.signer = &signer;
    REQUIRE(evidence::write_bundle(site.journal(), "pv-site", request));
    auto keys = pinned_key(signer);
    auto v = evidence::verify_bundle(request.out, keys, std::nullopt);
    INFO(v.to_text());
    CHECK(v.failures.empty());
    CHECK(v.exit_code() == (recorded ? 0 : 4));
    CHECK(any_of(v.findings, "calibration valid until 2025-12-31") == !recorded);
  }
}
