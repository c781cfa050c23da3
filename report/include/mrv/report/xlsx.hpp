#pragma once
// The monitoring report as an Excel workbook in the layout of a JCM Monitoring Report
// Sheet (docs/jcm-submission.md): MRS(input) with its header and Tables 1-3,
// MRS(calc_process) with the methodology's formulas as live spreadsheet formulas over
// the input cells (ending in ROUNDDOWN to whole tonnes), and sheets per month, per day,
// of calibrations and of gaps and corrections. Written with libxlsxwriter in its
// constant-memory mode. Pure: prints only what the report holds.
#include <filesystem>
#include <string>

#include "mrv/core/error.hpp"
#include "mrv/report/report.hpp"

namespace mrv::report {

// `signed_report_sha256_hex`: SHA-256 of the signed JSON the workbook renders (its header
// names it, so the workbook is tied to the signed report). Writes `out` (replaced).
[[nodiscard]] Result<void> write_xlsx(const Report& report, const std::string& signed_report_sha256_hex,
                                      const std::filesystem::path& out);

}  // namespace mrv::report
