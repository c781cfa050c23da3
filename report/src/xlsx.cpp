#include "mrv/report/xlsx.hpp"

#include <map>

#include "mrv/core/time_zone.hpp"
#include "mrv/core/units.hpp"
#include "mrv/report/format.hpp"
#include "mrv/report/spreadsheet_formula.hpp"
#include "xlsx_detail.hpp"
#include "xlsx_sheet.hpp"

namespace mrv::report {
namespace {

using xlsx::cell_ref;
using xlsx::Formats;
using xlsx::Sheet;

constexpr const char* kInput = "MRS(input)";
constexpr const char* kCalc = "MRS(calc_process)";

bool in_table1(const MonitoringParameter& p) {
  return p.aggregation != Aggregation::fixed || p.monitoring_option == "A";
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : std::string(sep)) + p;
  return s;
}

// Table 1's texts: the config's words where it has them, else what the report knows.
std::string source_of_data(const ParameterReport& p) {
  const MonitoringParameter& c = *p.config;
  if (!c.source.empty()) return c.source;
  std::vector<std::string> parts;
  for (const PointReport& pt : p.points)
    parts.push_back(pt.point_id + ": meter " + (pt.meter_serial.empty() ? "(serial not configured)" : pt.meter_serial) +
                    (pt.accuracy_class.empty() ? "" : ", accuracy class " + pt.accuracy_class));
  if (c.aggregation == Aggregation::documents) {
    for (const SiteRecordUse& d : p.documents) parts.push_back(d.summary + " (seq " + std::to_string(d.seq) + ")");
    if (parts.empty()) parts.push_back("no recorded document covers the period");
  }
  return join(parts, "; ");
}

std::string measurement_methods(const ParameterReport& p) {
  const MonitoringParameter& c = *p.config;
  if (!c.measurement_methods.empty()) return c.measurement_methods;
  std::vector<std::string> ids;
  for (const PointReport& pt : p.points) ids.push_back(pt.point_id);
  std::string points = join(ids, ", ");
  switch (c.aggregation) {
    case Aggregation::counter:
      return "Cumulative register of " + points +
             ": end register minus start register of each segment between breaks, summed; signed readings";
    case Aggregation::integral:
      return "Time integral of " + points + " (trapezoid between signed readings); a gap counts as " +
             (c.gap_rule == GapRule::zero ? std::string("zero") : "the documented substitute");
    case Aggregation::mean: return "Time-weighted mean of " + points + " over the covered time";
    case Aggregation::min: return "Minimum of the signed readings of " + points;
    case Aggregation::max: return "Maximum of the signed readings of " + points;
    case Aggregation::documents:
      return "Sum of the quantities of the recorded documents, each pro rata for the part of its period inside the "
             "monitoring period";
    case Aggregation::fixed: return "Public data, as published";
  }
  return "";
}

std::string monitoring_frequency(const ParameterReport& p) {
  const MonitoringParameter& c = *p.config;
  if (!c.monitoring_frequency.empty()) return c.monitoring_frequency;
  if (c.aggregation == Aggregation::documents) return "Per document, as issued";
  if (c.aggregation == Aggregation::fixed) return "Once per monitoring period";
  std::vector<std::string> parts;
  for (const PointReport& pt : p.points)
    parts.push_back(pt.point_id + ": every " + format_duration(pt.interval_ms) + ", " + std::to_string(pt.readings) +
                    " of " + std::to_string(pt.expected_readings) + " expected readings (" +
                    format_decimal(pt.coverage * 100, 2) + " %)");
  return "Continuous; " + join(parts, "; ") + "; aggregated per monitoring period";
}

std::string comments(const ParameterReport& p) {
  std::vector<std::string> parts;
  if (!p.config->comments.empty()) parts.push_back(p.config->comments);
  if (p.informational) parts.push_back("Informational: the credited formula does not use it");
  if (!p.has_data) parts.push_back("No usable reading in the period");
  for (const auto& n : p.notes) parts.push_back(n);
  return join(parts, ". ");
}

// Where each id's value sits on the calculation sheet, decided before any sheet is written.
struct CalcLayout {
  uint32_t params_first = 4, formulas_header = 0, formulas_first = 0, er_row = 0, complete_row = 0, credited_row = 0;
  explicit CalcLayout(const Report& r) {
    formulas_header = params_first + static_cast<uint32_t>(r.parameters.size()) + 1;
    formulas_first = formulas_header + 1;
    er_row = formulas_first + static_cast<uint32_t>(r.results.size()) + 1;
    complete_row = er_row + 1;
    credited_row = er_row + 2;
  }
};
// Calculation sheet columns.
enum : uint16_t { kSymbol, kDescription, kExpression, kValue, kUnit, kFactor, kBase };

struct InputCells {
  std::map<std::string, std::string> value_of;  // parameter id -> its value cell on MRS(input)
  std::string complete;
};

void write_header(Sheet& s, const Formats& f, const Report& r, const std::string& report_sha256) {
  const MonitoringConfig& m = *r.monitoring;
  const PeriodFacts& pf = r.period_facts;
  s.heading("Joint Crediting Mechanism: Monitoring Report Sheet (input)",
            "Written by mrv-agent from the signed monitoring report named below: the signed JSON is the record, this "
            "workbook its rendering. Values are live: MRS(calc_process) recalculates from them.");
  s.next();
  auto row = [&](std::string_view label, const std::string& value) {
    s.text(0, label, f.label);
    s.text(1, value, f.plain);  // long values (hashes, the checkpoint) run on into the empty cells
    s.next();
  };
  row("Reference number", m.reference_number);
  row("Title of the project", m.title);
  row("Methodology", m.methodology + " version " + m.version);
  row("Site", r.site_id);
  row("Monitoring period", pf.jcm_dates + " (" + pf.time_zone + "), both days included");
  row("Monitoring period (UTC)", format_time(r.period.start_ms) + " to " + format_time(r.period.end_ms) +
                                     " (end excluded); period '" + r.period.name + "'");
  if (!pf.crediting_jcm_dates.empty()) row("Crediting period", pf.crediting_jcm_dates + " (" + pf.time_zone + ")");
  row("Signed report (SHA-256 of its JSON)", report_sha256);
  row("Journal records read", "seq " + std::to_string(r.seqs.first) + " to " + std::to_string(r.seqs.last) + " (" +
                                  std::to_string(r.seqs.records) + " records)");
  // The signed note, a line per row as it is written (a verifier compares it line by line).
  std::string_view note = r.annex.end_checkpoint;
  for (bool first = true; !note.empty() || first; first = false) {
    size_t end = std::min(note.find('\n'), note.size());
    row(first ? "Checkpoint the report rests on" : "", std::string(note.substr(0, end)));
    note.remove_prefix(std::min(end + 1, note.size()));
  }
  row("Configuration (SHA-256)", r.config_hash_hex);
  row("Generated (UTC)", format_time(r.generated_ms));
  s.next();
}

void write_table1(Sheet& s, const Formats& f, const Report& r, InputCells& cells) {
  s.heading("Table 1: Parameters monitored ex post");
  s.headers({"(a) Monitoring point No.", "(b) Parameter", "(c) Description of data", "(d) Measured value",
             "(e) Calibration correction", "(f) Value used (d)+(e)", "(g) Units", "(h) Monitoring option",
             "(i) Source of data", "(j) Measurement methods and procedures", "(k) Monitoring frequency",
             "(l) Other comments"});
  s.next();
  for (const ParameterReport& p : r.parameters) {
    if (!in_table1(*p.config)) continue;
    s.text(0, p.config->monitoring_point);
    s.text(1, p.config->id, f.label);
    s.text(2, p.config->description);
    s.number(3, p.measured);
    s.number(4, p.correction);
    s.formula(5, "=" + cell_ref(s.row(), 3) + "+" + cell_ref(s.row(), 4), p.value);
    cells.value_of[p.config->id] = cell_ref(s.row(), 5, kInput);
    s.text(6, p.config->unit);
    s.text(7, p.config->monitoring_option);
    s.text(8, source_of_data(p));
    s.text(9, measurement_methods(p));
    s.text(10, monitoring_frequency(p));
    s.text(11, comments(p));
    s.next();
  }
  s.next();
}

void write_table2(Sheet& s, const Formats& f, const Report& r, InputCells& cells) {
  // Columns as Table 1's: the parameter in (b), its value in (d), its unit in (g).
  s.heading("Table 2: Project-specific parameters fixed ex ante");
  s.headers({"(a) Parameter", "(b) Description of data", "(c) Estimated value"}, 1);
  s.headers({"(d) Units"}, 6);
  s.headers({"(e) Source of data"}, 8);
  s.headers({"(f) Other comments"}, 11);
  s.next();
  for (const ParameterReport& p : r.parameters) {
    if (in_table1(*p.config)) continue;
    s.text(1, p.config->id, f.label);
    s.text(2, p.config->description);
    s.number(3, p.value);
    cells.value_of[p.config->id] = cell_ref(s.row(), 3, kInput);
    s.text(6, p.config->unit);
    s.text(8, p.config->source);
    s.text(11, p.config->comments);
    s.next();
  }
  s.next();
}

void write_table3(Sheet& s, const Formats& f, const Report& r, const CalcLayout& calc, InputCells& cells) {
  s.heading("Table 3: Ex-post calculation of CO2 emission reductions",
            "Values from MRS(calc_process), where the methodology's formulas recalculate from Tables 1 and 2.");
  s.headers({"Symbol", "Description", "Value"}, 1);
  s.headers({"Units"}, 6);
  s.headers({"Formula"}, 8);
  s.next();
  for (size_t i = 0; i < r.results.size(); ++i) {
    const FormulaResult& fr = r.results[i];
    s.text(1, fr.config->id, f.label);
    s.text(2, fr.config->description);
    if (fr.evaluated)
      s.formula(3, "=" + cell_ref(calc.formulas_first + static_cast<uint32_t>(i), kValue, kCalc), fr.value);
    else
      s.text(3, "not evaluated");
    s.text(6, fr.config->unit);
    s.text(8, fr.config->expression);
    s.next();
  }
  s.text(1, "Complete", f.label);
  s.text(2, "Every parameter the credited formula uses had data (FALSE: nothing is credited)");
  s.boolean(3, r.complete);
  cells.complete = cell_ref(s.row(), 3, kInput);
  s.next();
  s.text(1, "ER (tCO2)", f.label);
  s.text(2, "Emission reductions during the period, " + r.monitoring->emission_reductions + " in tCO2");
  s.formula(3, "=" + cell_ref(calc.er_row, kValue, kCalc), r.emission_reductions);
  s.text(6, "tCO2");
  s.next();
  s.text(1, "Credited", f.label);
  s.text(2, "Emission reductions credited: rounded down to whole tonnes");
  s.formula(3, "=" + cell_ref(calc.credited_row, kValue, kCalc), static_cast<double>(r.credited_tco2), f.total);
  s.text(6, "tCO2");
  s.next();
  // The record, beside its recalculation: a spreadsheet rounds to 15 significant digits
  // before ROUNDDOWN, so an ER a hair below a whole tonne would recalculate one more.
  s.text(1, "Signed credit", f.label);
  s.text(2, "Emission reductions credited in the signed report (the record; the row above recalculates it)");
  s.integer(3, r.credited_tco2);
  s.text(6, "tCO2");
  s.next();
}

Result<void> write_calc(Sheet& s, const Formats& f, const Report& r, const CalcLayout& calc, const InputCells& cells) {
  s.heading("Joint Crediting Mechanism: Monitoring Report Sheet (calc_process)",
            "As the report computes: every value is taken to base units (kWh, h, tCO2, m3, kg) by its factor, the "
            "formula evaluated there and taken back to its own unit. Change a value in MRS(input) to recalculate.");
  s.next();
  s.headers({"Symbol", "Description", "Expression or source", "Value", "Unit", "Factor to base unit",
             "Value in base units"});
  s.next();
  // A parameter's base value is its own row's G; a formula's is its value times its factor,
  // as the engine takes an earlier formula's result into a later one.
  std::map<std::string, std::string> base_of;
  auto factor_of = [](const std::string& unit) { return parse_unit(unit).value_or(Unit{}).factor; };
  for (const ParameterReport& p : r.parameters) {
    const uint32_t row = s.row();
    s.text(kSymbol, p.config->id, f.label);
    s.text(kDescription, p.config->description);
    s.text(kExpression, in_table1(*p.config) ? "MRS(input) Table 1 (f)" : "MRS(input) Table 2 (c)");
    s.formula(kValue, "=" + cells.value_of.at(p.config->id), p.value);
    s.text(kUnit, p.config->unit);
    const double factor = factor_of(p.config->unit);
    s.number(kFactor, factor);
    s.formula(kBase, "=" + cell_ref(row, kValue) + "*" + cell_ref(row, kFactor), p.value * factor);
    base_of[p.config->id] = cell_ref(row, kBase);
    s.next();
  }
  s.next();
  s.headers({"Formula", "Description", "Expression", "Value", "Unit", "Factor to base unit", "Value in base units"});
  s.next();
  uint32_t er_formula_row = 0;
  double er_factor = 1;
  for (const FormulaResult& fr : r.results) {
    const uint32_t row = s.row();
    const MonitoringFormula& mf = *fr.config;
    const double factor = factor_of(mf.unit);
    s.text(kSymbol, mf.id, f.label);
    s.text(kDescription, mf.description);
    s.text(kExpression, mf.expression);
    s.text(kUnit, mf.unit);
    s.number(kFactor, factor);
    if (fr.evaluated) {
      auto sheet_formula = to_spreadsheet_formula(mf.expression, [&](const std::string& id) -> std::optional<std::string> {
        auto it = base_of.find(id);
        if (it == base_of.end()) return std::nullopt;
        return it->second;
      });
      if (!sheet_formula) return tl::unexpected(sheet_formula.error());
      s.formula(kBase, *sheet_formula, fr.value * factor);
      s.formula(kValue, "=" + cell_ref(row, kBase) + "/" + cell_ref(row, kFactor), fr.value);
      base_of[mf.id] = "(" + cell_ref(row, kValue) + "*" + cell_ref(row, kFactor) + ")";
    } else {
      s.text(kValue, "not evaluated");
    }
    if (mf.id == r.monitoring->emission_reductions) er_formula_row = row, er_factor = factor;
    s.next();
  }
  s.next();
  // convert(ER, its unit, tCO2) = ER × its factor / tCO2's factor, as the engine does.
  s.text(kSymbol, "ER (tCO2)", f.label);
  s.text(kDescription, r.monitoring->emission_reductions + " in tCO2");
  s.formula(kValue,
            "=" + cell_ref(er_formula_row, kValue) + "*" + xlsx::number_literal(er_factor) + "/" +
                xlsx::number_literal(factor_of("tCO2")),
            r.emission_reductions);
  s.text(kUnit, "tCO2");
  s.next();
  s.text(kSymbol, "Complete", f.label);
  s.text(kDescription, "MRS(input) Table 3: every parameter the credited formula uses had data");
  worksheet_write_formula_num(s.raw(), s.row(), kValue, ("=" + cells.complete).c_str(), nullptr, r.complete ? 1 : 0);
  s.next();
  s.text(kSymbol, "Credited", f.label);
  s.text(kDescription, "Emission reductions credited: ROUNDDOWN to whole tonnes, none when incomplete or negative");
  s.formula(kValue,
            "=IF(" + cell_ref(calc.complete_row, kValue) + ",MAX(0,ROUNDDOWN(" + cell_ref(calc.er_row, kValue) +
                ",0)),0)",
            static_cast<double>(r.credited_tco2), f.total);
  s.text(kUnit, "tCO2");
  s.next();
  return {};
}

}  // namespace

Result<void> write_xlsx(const Report& report, const std::string& signed_report_sha256_hex,
                        const std::filesystem::path& out) {
  if (!report.monitoring) return fail(ErrorCode::invalid_argument, out.string(), "the report has no monitoring config");
  if (auto missing = report.monitoring->workbook_missing(); !missing.empty())
    return fail(ErrorCode::config, "JCM workbook",
                "the config does not say " + join(missing, ", ") + " (docs/jcm-submission.md)");
  const CalcLayout calc(report);
  if (calc.er_row == 0) return fail(ErrorCode::invalid_argument, out.string(), "the report has no formulas");
  lxw_workbook_options options{};
  options.constant_memory = LXW_TRUE;  // rows go to a temp file as written: memory stays flat
  lxw_workbook* wb = workbook_new_opt(out.c_str(), &options);
  if (!wb) return fail(ErrorCode::io, out.string(), "cannot create the workbook");
  std::string title = "Monitoring Report Sheet " + report.monitoring->reference_number + " " + report.period.name;
  lxw_doc_properties props{};
  props.title = title.data();
  props.author = const_cast<char*>("mrv-agent");
  props.comments = const_cast<char*>(signed_report_sha256_hex.c_str());
  workbook_set_properties(wb, &props);
  Formats formats(wb);

  Sheet input(wb, formats, kInput);
  input.width(0, 0, 22);
  input.width(1, 1, 14);
  input.width(2, 2, 28);
  input.width(3, 7, 12);
  input.width(8, 11, 30);
  InputCells cells;
  write_header(input, formats, report, signed_report_sha256_hex);
  write_table1(input, formats, report, cells);
  write_table2(input, formats, report, cells);
  write_table3(input, formats, report, calc, cells);

  Sheet calc_sheet(wb, formats, kCalc);
  calc_sheet.width(0, 0, 14);
  calc_sheet.width(1, 2, 36);
  calc_sheet.width(3, 6, 18);
  Result<void> written = write_calc(calc_sheet, formats, report, calc, cells);
  if (written) written = xlsx::write_detail_sheets(wb, formats, report);
  lxw_error closed = workbook_close(wb);  // frees the workbook whatever happened
  if (!written) {
    std::error_code ec;
    std::filesystem::remove(out, ec);
    return written;
  }
  if (closed != LXW_NO_ERROR) return fail(ErrorCode::io, out.string(), std::string("cannot write the workbook: ") + lxw_strerror(closed));
  return {};
}

}  // namespace mrv::report
