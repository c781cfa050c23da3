#pragma once
// A thin layer over libxlsxwriter for the JCM workbook (xlsx.cpp): the shared cell
// formats, and a sheet written row after row (the workbook is in constant-memory mode,
// where a row is final once the next one is begun), with A1 references for formulas.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <xlsxwriter.h>

namespace mrv::report::xlsx {

struct Formats {
  explicit Formats(lxw_workbook* wb);
  lxw_format *title, *note, *label, *header, *text, *plain, *number, *integer, *percent, *total, *flag;
  lxw_format *seq;      // a record's seq: no thousands separator, as verifiers search for it
  lxw_format *rounded;  // a computed mean: three decimals
};

// "$F$18", or "'MRS(input)'!$F$18" with a sheet name.
std::string cell_ref(uint32_t row, uint16_t col, std::string_view sheet = {});
// "G5:G35" (relative), with the sheet name when given.
std::string range_ref(uint32_t first_row, uint32_t last_row, uint16_t col, std::string_view sheet = {});
// A double as a formula literal that reads back as the same double.
std::string number_literal(double v);

class Sheet {
 public:
  Sheet(lxw_workbook* wb, const Formats& f, const char* name);
  const std::string& name() const { return name_; }
  lxw_worksheet* raw() { return ws_; }
  uint32_t row() const { return row_; }
  // Ends the row (tall enough for its wrapped texts) and moves on.
  void next(uint32_t rows = 1);

  void text(uint16_t col, std::string_view s, lxw_format* fmt = nullptr);
  void number(uint16_t col, double v, lxw_format* fmt = nullptr);  // NaN / inf: an empty cell
  void integer(uint16_t col, int64_t v) { number(col, static_cast<double>(v), f_.integer); }
  void seq(uint16_t col, uint64_t v) { number(col, static_cast<double>(v), f_.seq); }
  // A live formula with the value the report computed cached, for readers that do not
  // recalculate; a spreadsheet recalculates it on load (fullCalcOnLoad).
  void formula(uint16_t col, const std::string& f, double cached, lxw_format* fmt = nullptr);
  void boolean(uint16_t col, bool v) { worksheet_write_boolean(ws_, row_, col, v, f_.flag); }
  // A row of column headers.
  void headers(std::initializer_list<std::string_view> names, uint16_t first_col = 0);
  // The row's title in a larger bold type, and a line of explanation under it.
  void heading(std::string_view title, std::string_view explanation = {});
  void width(uint16_t first, uint16_t last, double chars);

 private:
  const Formats& f_;
  lxw_worksheet* ws_;
  std::string name_;
  uint32_t row_ = 0;
  uint32_t row_lines_ = 1;              // the current row's tallest wrapped text, in lines
  std::vector<double> widths_;          // per column, in characters (spreadsheets do not size rows on load)
};

}  // namespace mrv::report::xlsx
