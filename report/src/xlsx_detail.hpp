#pragma once
// The JCM workbook's sheets beyond the MRS pair (xlsx.cpp): per day (a verifier samples
// days against the signed readings), per month (live sums of the days), calibrations,
// and gaps, breaks and corrections.
#include <xlsxwriter.h>

#include "mrv/core/error.hpp"
#include "mrv/report/report.hpp"
#include "xlsx_sheet.hpp"

namespace mrv::report::xlsx {

[[nodiscard]] Result<void> write_detail_sheets(lxw_workbook* wb, const Formats& f, const Report& r);

}  // namespace mrv::report::xlsx
