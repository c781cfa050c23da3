#include "mrv/report/xlsx.hpp"

#include <xlsxwriter.h>

namespace mrv::report {

// A placeholder until the MRS layout lands: an empty workbook.
Result<void> write_xlsx(const Report&, const std::string&, const std::filesystem::path& out) {
  lxw_workbook* wb = workbook_new(out.c_str());
  if (!wb) return fail(ErrorCode::io, out.string(), "cannot create the workbook");
  workbook_add_worksheet(wb, "MRS(input)");
  if (workbook_close(wb) != LXW_NO_ERROR) return fail(ErrorCode::io, out.string(), "cannot write the workbook");
  return {};
}

}  // namespace mrv::report
