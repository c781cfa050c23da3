#pragma once
// The site records a bundle's report carries (docs/report-format.md §3.1 `site_records`,
// checked as docs/verification.md §6 step 9 says). The report's engine took every site
// record of the journal before the first reading, so the verifier must feed it the same
// ones: each line is checked on its own (hash, a site record of the bundle's site, seq at
// most through_seq, signed by a trusted key), and against the bundle's records, which show
// any site record the report left out or changed. Not thread-safe; one per bundle.
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/core/crypto.hpp"
#include "mrv/core/reading.hpp"
#include "mrv/report/json.hpp"

namespace mrv::evidence {

// The most site record lines a report may carry: past it the report is refused before a
// line is checked (docs/limits.md). 64 MiB of report.json holds about 60,000 real lines.
inline constexpr size_t kMaxReportSiteRecords = 100'000;

// What the bundle's signed manifest says it holds.
struct BundleScope {
  std::string site;
  uint64_t first_seq = 0, last_seq = 0;  // both 0: no records
};

class ReportSiteRecords {
 public:
  using Failure = std::function<void(std::string)>;  // a `report` failure, in words

  // Checks every line of `report` now. `trusted` must outlive this object.
  ReportSiteRecords(const report::SignedReport& report, std::span<const PublicKey> trusted, BundleScope scope,
                    Failure failure, std::vector<std::string>& notes);

  // The lines that passed, decoded, in seq order: what the engine takes before the first
  // record. Moved out once (empty afterwards).
  std::vector<RecordFields> take_verified() { return std::move(verified_); }

  // Every record of the bundle, in seq order, as it reads (`canonical`: its bytes).
  void on_range_record(const RecordFields& record, std::string_view canonical);
  // After the last record: a line inside the range that no record matched.
  void finish();

 private:
  void check_line(size_t index, const RecordLine& line, std::span<const PublicKey> trusted);
  void fail(std::string message) { failure_(std::move(message)); }

  BundleScope scope_;
  uint64_t through_seq_ = 0;
  Failure failure_;
  std::vector<std::string>& notes_;
  std::vector<RecordFields> verified_;
  struct Line {
    std::string hash_hex;  // SHA-256 of the line's record bytes
    bool in_range = false, matched = false;  // inside the bundle's range; its record seen there
  };
  std::map<uint64_t, Line> lines_;  // by seq
};

}  // namespace mrv::evidence
