#pragma once
// The monitoring report as one self-contained HTML5 page (UTF-8, no external resources,
// no script): the header, the credited emission reductions, the parameter and formula
// tables, per point its coverage, boundary values, events, gaps and an inline SVG chart
// of its readings with the gaps shaded, and the cryptographic annex. It prints on A4.
// Every text from the config (ids, descriptions, notes) is escaped. Pure: prints only
// what the report holds; the report's config pointers must be valid for the call.
#include <string>

#include "mrv/report/report.hpp"

namespace mrv::report {

std::string render_html(const Report& report);

}  // namespace mrv::report
