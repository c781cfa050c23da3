// report: the monitoring report of one period (docs/report-format.md), as signed JSON,
// a CSV monitoring sheet or a printable HTML page; the signed JSON goes to the registry
// when the config has an [upload] section.
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/agent/report_builder.hpp"
#include "mrv/evidence/export_file.hpp"
#include "mrv/report/csv.hpp"
#include "mrv/report/format.hpp"
#include "mrv/report/html.hpp"
#include "mrv/report/xlsx.hpp"
#include "mrv/uploader/uploader.hpp"

namespace mrv::agent {
namespace {

Result<void> write_text(const std::string& text, const std::filesystem::path& out) {
  std::filesystem::path tmp = out;
  tmp += ".tmp";
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  file << text;
  return evidence::commit_file(file, tmp, out);
}

// The workbook names the signed JSON it renders by its SHA-256, written beside it (OUT.json).
Result<void> write_workbook(const report::Report& report, const std::string& signed_json,
                            const std::filesystem::path& out) {
  std::filesystem::path json = out;
  json.replace_extension(".json");
  if (json == out) return fail(ErrorCode::invalid_argument, out.string(), "a workbook's --out must not end in .json");
  std::filesystem::path tmp = out;
  tmp += ".tmp";
  if (auto written = report::write_xlsx(report, to_hex(sha256(signed_json)), tmp); !written) return written;
  // The signed JSON it names goes beside it: each run signs anew (generated_ms), so a
  // JSON made by another run would not be the one the workbook names.
  if (auto beside = write_text(signed_json, json); !beside) return beside;
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail(ErrorCode::io, out.string(), ec.message());
  return {};
}

}  // namespace

int report(const ReportArgs& args) {
  auto opened = open_from_config(args.config);
  if (!opened) return kExitFailure;
  auto& [config, journal] = *opened;
  auto built = build_signed_report(journal, config, args.period, terminal_progress("reading records"));
  if (!built) {
    std::cerr << built.error().to_string() << "\n";
    return kExitFailure;
  }
  const std::string& signed_json = built->json;
  auto written = args.format == "xlsx"
                     ? write_workbook(built->report, signed_json, args.out)
                     : write_text(args.format == "csv"    ? report::render_csv(built->report)
                                  : args.format == "html" ? report::render_html(built->report)
                                                          : signed_json,
                                  args.out);
  if (!written) {
    std::cerr << written.error().to_string() << "\n";
    return kExitFailure;
  }
  const report::Report& r = built->report;
  std::cerr << "report " << r.period.name << ": " << r.monitoring->emission_reductions << " = "
            << report::format_decimal(r.emission_reductions) << " tCO2, credited " << r.credited_tco2 << " tCO2"
            << (r.complete ? "" : " (incomplete: nothing credited)") << "; " << r.seqs.records << " records (seq "
            << r.seqs.first << ".." << r.seqs.last << ") -> " << args.out.string() << "\n";
  for (const auto& note : r.notes) std::cerr << "  " << note << "\n";
  if (r.window_to_ms > r.generated_ms)
    std::cerr << "  warning: the period's boundary window runs until " << report::format_time(r.window_to_ms)
              << ": readings of it may still arrive, and a later report may differ\n";
  // What is uploaded is what was written: the signed JSON (a CSV or HTML page is a
  // rendering of it; make the JSON to upload it).
  if (config.upload.url.empty() || args.no_upload || args.format != "json") return kExitOk;
  auto posted = uploader::post_report(config, signed_json);
  if (!posted) {
    std::cerr << "upload of the signed report failed (the file is written): " << posted.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cerr << "uploaded to " << config.upload.url << ": " << *posted << "\n";
  return kExitOk;
}

}  // namespace mrv::agent
