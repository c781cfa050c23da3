#pragma once
// The report as JSON, format "mrv-report/1" (docs/report-format.md). Decimal numbers are
// strings ("3222.222") so that no reader's float formatting changes them; counts and
// seqs are integers. The signed bytes are the report object without its "signature"
// member, serialised with sorted keys and no whitespace (Python:
// json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"
#include "mrv/report/report.hpp"

namespace mrv::report {

struct ReportSignature {
  std::string algorithm;   // "ed25519" or "ecdsa-p256-sha256"
  std::string key_id_hex;  // as in records and keys.json
  std::string value_b64;   // over the canonical bytes
};

// The canonical (signed) bytes of a report.
std::string report_canonical(const Report& report);
// The file: the same object, indented, with "signature" added.
std::string signed_report_json(std::string_view canonical, const ReportSignature& signature);

// What a reader of a signed report needs to check it.
struct SignedReport {
  std::string canonical;      // recomputed from the file, without "signature"
  ReportSignature signature;
  std::string site_id, period_name, config_sha256, config_text;
  int64_t period_start_ms = 0, period_end_ms = 0;
  int64_t window_from_ms = 0, window_to_ms = 0;  // the readings it read
  std::string computed;       // the recomputable part (recomputable_part)
  Annex annex;
  SeqRange seqs;
  uint64_t site_records_through = 0;
  std::vector<RecordLine> site_records;  // as the report carries them: not yet checked
};
[[nodiscard]] Result<SignedReport> parse_signed_report(std::string_view text);
// The part of a report that its records alone determine (parameters, results, emission
// reductions, notes, seqs), canonical: equal for a report and its recomputation.
std::string recomputable_part(const Report& report);

}  // namespace mrv::report
