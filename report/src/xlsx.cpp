#include "mrv/report/xlsx.hpp"

#include <xlsxwriter.h>

namespace mrv::report {

Result<void> write_xlsx(const Report&, const std::string&, const std::filesystem::path& out) {
  return fail(ErrorCode::invalid_argument, out.string(), "the workbook writer is not built yet");
}

}  // namespace mrv::report
