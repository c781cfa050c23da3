#include "bundle_calibrations.hpp"

#include "mrv/core/site_record.hpp"
#include "mrv/core/time_text.hpp"

namespace mrv::evidence {

void BundleCalibrations::add(const RecordFields& record, std::vector<std::string>& findings) {
  if (record.type != RecordType::site_record || !seen_.insert(record.seq).second) return;
  auto parsed = parse_site_record(record);  // one that does not parse: the report's notes say so
  if (!parsed || parsed->kind != SiteRecordKind::calibration) return;
  const SiteRecord& c = *parsed;
  if (c.result_pass) {
    passing_[c.meter_serial].emplace_back(c.ts_ms, c.valid_until_ms);
    return;
  }
  findings.push_back("meter " + c.meter_serial + " (point " + c.point + "): calibration of " + format_utc_ms(c.ts_ms) +
                     " failed, error " + c.value + " %, certificate " + c.details.at("certificate") + " (sha256 " +
                     c.certificate_sha256 + ", " + c.details.at("laboratory") + "; site record seq " +
                     std::to_string(record.seq) + ")");
}

bool BundleCalibrations::covers(const std::string& meter_serial, int64_t ts_ms) const {
  auto it = passing_.find(meter_serial);
  if (it == passing_.end()) return false;
  for (auto [from, until] : it->second)
    if (from <= ts_ms && ts_ms < until) return true;
  return false;
}

}  // namespace mrv::evidence
