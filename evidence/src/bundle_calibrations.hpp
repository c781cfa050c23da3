#pragma once
// The calibrations people recorded at the site (site records of kind calibration,
// docs/record-format.md §1.6) as a bundle's verifier meets them, for step 10 of
// docs/verification.md §6: a failed calibration is a finding naming the meter and its
// certificate; a reading that a passing calibration of its meter covers is not out of
// calibration, whatever date the config gives. Not thread-safe.
#include <cstdint>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mrv/core/reading.hpp"

namespace mrv::evidence {

class BundleCalibrations {
 public:
  // Any record: a site record of kind calibration is taken (once per seq: the report's
  // lines and the bundle's records may both hold it), others are ignored. A failed one
  // adds a finding.
  void add(const RecordFields& record, std::vector<std::string>& findings);
  // Whether a passing calibration of this meter was valid at `ts_ms`
  // (its ts_ms <= ts_ms < its valid_until).
  bool covers(const std::string& meter_serial, int64_t ts_ms) const;

 private:
  std::set<uint64_t> seen_;
  std::unordered_map<std::string, std::vector<std::pair<int64_t, int64_t>>> passing_;  // by meter
};

}  // namespace mrv::evidence
