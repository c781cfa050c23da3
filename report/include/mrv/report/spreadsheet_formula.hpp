#pragma once
// A methodology formula (muparser syntax, core/formula.hpp) as a spreadsheet formula
// (Excel / LibreOffice), so the JCM workbook recalculates what the engine computed. Every
// operation is parenthesised as muparser groups it (muparser binds unary minus looser than
// ^, a spreadsheet tighter), ids become what `cell_of` says, and functions are renamed
// (min -> MIN, avg -> AVERAGE, a ? b : c -> IF(a, b, c), && -> AND, ...). A function
// without an exact spreadsheet twin (rint, log with its base unclear, trigonometry) is
// refused with its name, so the workbook never computes something else than the report.
#include <functional>
#include <optional>
#include <string>

#include "mrv/core/error.hpp"

namespace mrv::report {

// `cell_of(id)`: the reference an id becomes ("$G$12"), or nullopt for an unknown id.
[[nodiscard]] Result<std::string> to_spreadsheet_formula(
    const std::string& expression, const std::function<std::optional<std::string>(const std::string&)>& cell_of);

}  // namespace mrv::report
