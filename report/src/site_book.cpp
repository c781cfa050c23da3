#include "site_book.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mrv/report/format.hpp"

namespace mrv::report {
namespace {
constexpr int64_t kAlways = std::numeric_limits<int64_t>::min();
constexpr double kMsPerHour = 3'600'000.0;
}  // namespace

void SiteBook::add(SiteEntry entry) { entries_.push_back(std::move(entry)); }

void SiteBook::seal() {
  std::stable_sort(entries_.begin(), entries_.end(),
                   [](const SiteEntry& a, const SiteEntry& b) { return a.record.ts_ms < b.record.ts_ms; });
  for (const SiteEntry& e : entries_) {
    const SiteRecord& r = e.record;
    if (r.kind == SiteRecordKind::document) documents_.push_back(&e);
    else if (r.kind == SiteRecordKind::note) notes_.push_back(&e);
    if (!r.point.empty()) by_point_[{r.point, r.kind}].push_back(&e);
  }
}

const std::vector<const SiteEntry*>& SiteBook::of_point(const std::string& point, SiteRecordKind kind) const {
  auto it = by_point_.find({point, kind});
  return it == by_point_.end() ? none_ : it->second;
}

SiteRecordUse site_record_use(const SiteEntry& e) {
  const SiteRecord& r = e.record;
  std::string summary;
  switch (r.kind) {
    case SiteRecordKind::manual_reading: summary = "meter " + r.meter_serial + " read " + r.value + " " + r.unit; break;
    case SiteRecordKind::meter_exchange:
      summary = r.old_serial + " final " + format_decimal(r.old_final) + " -> " + r.new_serial + " initial " +
                format_decimal(r.new_initial) + " " + r.unit;
      break;
    case SiteRecordKind::calibration:
      summary = "meter " + r.meter_serial + " " + (r.result_pass ? "passed" : "FAILED") + ", error " + r.value +
                " %, certificate " + r.details.at("certificate") + " (sha256 " + r.certificate_sha256 + "), valid until " +
                format_time(r.valid_until_ms);
      break;
    case SiteRecordKind::document:
      summary = r.document_type + " " + r.details.at("number") + " of " + r.details.at("issuer") + ": " + r.value + " " +
                r.unit + " for " + format_time(r.ts_ms) + " to " + format_time(r.period_to_ms) + " (sha256 " +
                r.file_sha256 + ")";
      break;
    case SiteRecordKind::note: summary = r.details.at("text"); break;
  }
  std::string file = r.kind == SiteRecordKind::document      ? r.file_sha256
                     : r.kind == SiteRecordKind::calibration ? r.certificate_sha256
                                                             : "";
  return {e.seq, e.hash_hex, std::string(to_string(r.kind)), r.point, summary + " (entered by " + r.entered_by + ")",
          r.ts_ms, file};
}

CalibrationHistory::CalibrationHistory(const std::vector<const SiteEntry*>& calibrations, double permissible_percent,
                                       int64_t config_valid_until_ms)
    : permissible_(permissible_percent) {
  stated_ = !calibrations.empty() || config_valid_until_ms != 0;
  // The config's date is the state before the first recorded calibration, which decides from then on.
  if (config_valid_until_ms != 0) {
    int64_t until = calibrations.empty() ? config_valid_until_ms
                                         : std::min(config_valid_until_ms, calibrations.front()->record.ts_ms);
    covered_.push_back({kAlways, until, 0, nullptr});
  }
  int64_t last_pass = kAlways;
  for (const SiteEntry* e : calibrations) {  // in time order
    const SiteRecord& c = e->record;
    bool failed = !c.result_pass || std::abs(c.error_percent) > permissible_percent;
    if (failed) {
      failed_.push_back({last_pass, c.ts_ms, std::abs(c.error_percent), e});
      for (CalibrationSpan& s : covered_) s.to_ms = std::min(s.to_ms, c.ts_ms);  // a failure ends what covered it
    } else {
      covered_.push_back({c.ts_ms, c.valid_until_ms, 0, nullptr});
      last_pass = c.ts_ms;
    }
  }
}

double CalibrationHistory::percent_at(int64_t ms) const {
  if (!stated_) return 0;
  double failed = -1;
  for (const CalibrationSpan& s : failed_)
    if (s.from_ms <= ms && ms < s.to_ms) failed = std::max(failed, s.percent);
  if (failed >= 0) return failed;
  for (const CalibrationSpan& s : covered_)
    if (s.from_ms <= ms && ms < s.to_ms) return 0;
  return permissible_;
}

CalibrationHistory::Coverage CalibrationHistory::coverage(int64_t from_ms, int64_t to_ms) const {
  Coverage c;
  if (to_ms <= from_ms) return c;
  std::vector<int64_t> edges{from_ms, to_ms};
  for (const auto* spans : {&covered_, &failed_})
    for (const CalibrationSpan& s : *spans)
      for (int64_t t : {s.from_ms, s.to_ms})
        if (from_ms < t && t < to_ms) edges.push_back(t);
  std::sort(edges.begin(), edges.end());
  for (size_t i = 0; i + 1 < edges.size(); ++i) {
    if (edges[i + 1] == edges[i]) continue;
    double h = static_cast<double>(edges[i + 1] - edges[i]) / kMsPerHour;
    bool failed = false, covered = false;
    for (const CalibrationSpan& s : failed_) failed = failed || (s.from_ms <= edges[i] && edges[i] < s.to_ms);
    for (const CalibrationSpan& s : covered_) covered = covered || (s.from_ms <= edges[i] && edges[i] < s.to_ms);
    (failed ? c.failed_h : covered ? c.covered_h : c.expired_h) += h;
  }
  return c;
}

}  // namespace mrv::report
