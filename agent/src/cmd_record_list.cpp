// record list: the journal's site records, one line each (read-only; the agent may run).
#include <iostream>

#include "commands.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/site_record.hpp"
#include "mrv/core/time_text.hpp"

namespace mrv::agent {
namespace {

std::string one_line(std::string text, size_t max) {
  for (char& c : text)
    if (c == '\n' || c == '\t') c = ' ';
  if (text.size() > max) text = text.substr(0, max - 3) + "...";
  return text;
}

std::string summary(const SiteRecord& s) {
  const auto& d = s.details;
  auto get = [&](const char* name) { return d.contains(name) ? d.at(name) : std::string(); };
  switch (s.kind) {
    case SiteRecordKind::manual_reading:
      return s.value + " " + s.unit + " read off meter " + s.meter_serial;
    case SiteRecordKind::meter_exchange:
      return "meter " + s.old_serial + " (final " + get("old_final") + " " + s.unit + ") replaced by " + s.new_serial +
             " (initial " + get("new_initial") + " " + s.unit + ")";
    case SiteRecordKind::calibration:
      return get("result") + ", error " + s.value + " %, meter " + s.meter_serial + ", certificate " +
             get("certificate") + " of " + get("laboratory") + ", valid until " + get("valid_until");
    case SiteRecordKind::document:
      return s.document_type + " " + get("number") + " of " + get("issuer") + ": " + s.value + " " + s.unit +
             " until " + get("period_to") + (s.parameter.empty() ? "" : " for " + s.parameter);
    case SiteRecordKind::note:
      return one_line(get("text"), 80) + (s.to_ms ? " (until " + get("to") + ")" : "");
  }
  return "";
}

}  // namespace

int record_list(const std::filesystem::path& config_path, const std::string& kind) {
  if (!kind.empty() && !parse_site_record_kind(kind)) {
    std::cerr << "mrv-agent record list: --kind '" << kind
              << "' is none of manual-reading, meter-exchange, calibration, document, note\n";
    return kExitUsage;
  }
  auto opened = open_from_config(config_path);
  if (!opened) return kExitFailure;
  auto& journal = opened->second;
  auto records = journal.site_records(UINT64_MAX);
  if (!records) {
    std::cerr << records.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cout << "seq\ttime\tkind\tpoint\twho\tsummary\n";
  for (const StoredRecord& r : *records) {
    auto f = decode_record(r.canonical);
    Result<SiteRecord> s = f ? parse_site_record(*f) : Result<SiteRecord>(tl::unexpected(f.error()));
    if (!s) {  // the journal's own copy: never expected
      std::cerr << "seq " << r.seq << ": " << s.error().to_string() << "\n";
      return kExitFailure;
    }
    if (!kind.empty() && to_string(s->kind) != kind) continue;
    std::cout << r.seq << "\t" << format_utc_ms(s->ts_ms) << "\t" << to_string(s->kind) << "\t"
              << (s->point.empty() ? "-" : s->point) << "\t" << one_line(s->entered_by, 40) << " (" << s->login
              << ")\t" << summary(*s) << "\n";
  }
  return kExitOk;
}

}  // namespace mrv::agent
