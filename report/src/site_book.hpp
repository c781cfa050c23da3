#pragma once
// The site records a report uses (docs/record-format.md §1.6), sorted for the points and
// parameters that need them. They come before the readings: a calibration found failed
// in June, or a meter exchange entered a week late, changes how earlier readings count.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/site_record.hpp"
#include "mrv/report/report.hpp"

namespace mrv::report {

struct SiteEntry {
  uint64_t seq = 0;
  std::string hash_hex;  // SHA-256 of the record's canonical bytes
  SiteRecord record;
};

// How a report names a site record it used: seq, hash, and a summary for people.
SiteRecordUse site_record_use(const SiteEntry& entry);

// What a point's meter was checked to be over time.
struct CalibrationSpan {
  int64_t from_ms = 0, to_ms = 0;
  double percent = 0;          // the correction for a reading in it (0: covered)
  const SiteEntry* by = nullptr;  // the failed calibration (a failed span), else nullptr
};

class SiteBook {
 public:
  void add(SiteEntry entry);  // any order; sorted by time when read
  void seal();                // after the last add

  // Per point, in time order.
  const std::vector<const SiteEntry*>& of_point(const std::string& point, SiteRecordKind kind) const;
  const std::vector<const SiteEntry*>& documents() const { return documents_; }
  const std::vector<const SiteEntry*>& notes() const { return notes_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<SiteEntry> entries_;
  std::map<std::pair<std::string, SiteRecordKind>, std::vector<const SiteEntry*>> by_point_;
  std::vector<const SiteEntry*> documents_, notes_;
  std::vector<const SiteEntry*> none_;
};

// The calibration rules for one meter (point), from its recorded calibrations and the
// config's calibration_valid_until (a passing calibration from always until that date,
// or until the first recorded calibration, which decides from then on):
//   covered   a passing calibration covers the instant: no correction;
//   failed    between the last passing calibration and a failed one (error found above
//             the permissible error): corrected by the error found;
//   expired   neither: corrected by the maximum permissible error (the accuracy class).
// A point with neither records nor a date has no calibration stated: nothing is
// corrected (and the report says its coverage is unknown).
class CalibrationHistory {
 public:
  CalibrationHistory(const std::vector<const SiteEntry*>& calibrations, double permissible_percent,
                     int64_t config_valid_until_ms);  // 0: no date in the config
  bool stated() const { return stated_; }
  double percent_at(int64_t ms) const;
  // Hours of [from, to) covered, under a failed calibration, and expired.
  struct Coverage {
    double covered_h = 0, failed_h = 0, expired_h = 0;
  };
  Coverage coverage(int64_t from_ms, int64_t to_ms) const;

 private:
  bool stated_ = false;
  double permissible_;
  std::vector<CalibrationSpan> covered_, failed_;  // covered: percent 0
};

}  // namespace mrv::report
