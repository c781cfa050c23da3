#pragma once
// The report as CSV (RFC 4180) in the shape of a JCM Monitoring Report Sheet: one row
// per parameter and per formula result, then the credited emission reductions.
#include <string>

#include "mrv/report/report.hpp"

namespace mrv::report {

std::string render_csv(const Report& report);

}  // namespace mrv::report
