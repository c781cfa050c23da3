#include "xlsx_sheet.hpp"

#include <charconv>
#include <algorithm>
#include <cmath>

namespace mrv::report::xlsx {

Formats::Formats(lxw_workbook* wb) {
  auto make = [&] { return workbook_add_format(wb); };
  title = make();
  format_set_bold(title);
  format_set_font_size(title, 14);
  note = make();
  format_set_italic(note);
  format_set_font_color(note, 0x555555);
  label = make();
  format_set_bold(label);
  format_set_align(label, LXW_ALIGN_VERTICAL_TOP);
  header = make();
  format_set_bold(header);
  format_set_text_wrap(header);
  format_set_bg_color(header, 0xDDEBF7);
  format_set_border(header, LXW_BORDER_THIN);
  format_set_align(header, LXW_ALIGN_VERTICAL_TOP);
  text = make();
  format_set_text_wrap(text);
  format_set_align(text, LXW_ALIGN_VERTICAL_TOP);
  plain = make();
  format_set_align(plain, LXW_ALIGN_VERTICAL_TOP);
  number = make();
  format_set_num_format(number, "#,##0.0#########");
  format_set_align(number, LXW_ALIGN_VERTICAL_TOP);
  integer = make();
  format_set_num_format(integer, "#,##0");
  format_set_align(integer, LXW_ALIGN_VERTICAL_TOP);
  seq = make();
  format_set_num_format(seq, "0");
  format_set_align(seq, LXW_ALIGN_VERTICAL_TOP);
  rounded = make();
  format_set_num_format(rounded, "#,##0.000");
  format_set_align(rounded, LXW_ALIGN_VERTICAL_TOP);
  percent = make();
  format_set_num_format(percent, "0.00%");
  format_set_align(percent, LXW_ALIGN_VERTICAL_TOP);
  total = make();
  format_set_bold(total);
  format_set_num_format(total, "#,##0");
  format_set_bg_color(total, 0xFFF2CC);
  format_set_border(total, LXW_BORDER_THIN);
  flag = make();
  format_set_bold(flag);
  format_set_align(flag, LXW_ALIGN_LEFT);
}

namespace {

std::string column_letters(uint16_t col) {
  std::string s;
  for (int c = col + 1; c > 0; c = (c - 1) / 26) s.insert(s.begin(), static_cast<char>('A' + (c - 1) % 26));
  return s;
}

std::string sheet_prefix(std::string_view sheet) {
  return sheet.empty() ? std::string() : "'" + std::string(sheet) + "'!";
}

}  // namespace

std::string cell_ref(uint32_t row, uint16_t col, std::string_view sheet) {
  return sheet_prefix(sheet) + "$" + column_letters(col) + "$" + std::to_string(row + 1);
}

std::string range_ref(uint32_t first_row, uint32_t last_row, uint16_t col, std::string_view sheet) {
  return sheet_prefix(sheet) + column_letters(col) + std::to_string(first_row + 1) + ":" + column_letters(col) +
         std::to_string(last_row + 1);
}

std::string number_literal(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  std::string s(buf, ec == std::errc() ? end : buf);
  return v < 0 ? "(" + s + ")" : s;
}

Sheet::Sheet(lxw_workbook* wb, const Formats& f, const char* name)
    : f_(f), ws_(workbook_add_worksheet(wb, name)), name_(name) {
  worksheet_set_paper(ws_, 9);  // A4
  worksheet_set_landscape(ws_);
  worksheet_fit_to_pages(ws_, 1, 0);
}

void Sheet::text(uint16_t col, std::string_view s, lxw_format* fmt) {
  if (s.empty()) return;
  constexpr size_t kCellMax = 32767;  // a spreadsheet cell's limit
  std::string cell(s.substr(0, kCellMax));
  fmt = fmt ? fmt : f_.text;
  worksheet_write_string(ws_, row_, col, cell.c_str(), fmt);
  if (fmt == f_.text || fmt == f_.header) {  // wrapped: about this many lines at the column's width
    const double width = col < widths_.size() && widths_[col] > 0 ? widths_[col] : 8.43;
    size_t lines = 1, run = 0;
    for (char c : cell) {
      if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte
      if (c == '\n' || ++run > width * 1.1) ++lines, run = 0;
    }
    row_lines_ = std::max<uint32_t>(row_lines_, static_cast<uint32_t>(std::min<size_t>(lines, 30)));
  }
}

void Sheet::next(uint32_t rows) {
  if (row_lines_ > 1) worksheet_set_row(ws_, row_, 15.0 * row_lines_, nullptr);
  row_lines_ = 1;
  row_ += rows;
}

void Sheet::width(uint16_t first, uint16_t last, double chars) {
  worksheet_set_column(ws_, first, last, chars, nullptr);
  if (widths_.size() <= last) widths_.resize(last + 1, 0);
  for (uint16_t c = first; c <= last; ++c) widths_[c] = chars;
}

void Sheet::number(uint16_t col, double v, lxw_format* fmt) {
  if (std::isfinite(v)) worksheet_write_number(ws_, row_, col, v, fmt ? fmt : f_.number);
}

void Sheet::formula(uint16_t col, const std::string& f, double cached, lxw_format* fmt) {
  worksheet_write_formula_num(ws_, row_, col, f.c_str(), fmt ? fmt : f_.number, std::isfinite(cached) ? cached : 0);
}

void Sheet::headers(std::initializer_list<std::string_view> names, uint16_t first_col) {
  uint16_t col = first_col;
  for (std::string_view n : names) text(col++, n, f_.header);
}

void Sheet::heading(std::string_view title, std::string_view explanation) {
  text(0, title, f_.title);
  next();
  if (!explanation.empty()) {
    text(0, explanation, f_.note);
    next();
  }
}

}  // namespace mrv::report::xlsx
