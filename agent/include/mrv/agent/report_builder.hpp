#pragma once
// A monitoring report from the journal (issue 7, docs/report-format.md): the period's
// records through report::ReportEngine, then the annex that ties the numbers to the
// signed tree (the checkpoint at the period's end and the consistency proof from the
// previous period's), and the agent's signature.
#include <functional>
#include <string>

#include "mrv/core/config.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/report/report.hpp"

namespace mrv::agent {

// Records go through the engine from one read snapshot. Errors: the period is not in
// the config, no checkpoint covers the period's records yet, a journal read fails.
// `progress` is called now and then with (records read, records in the window).
[[nodiscard]] Result<report::Report> build_report(Journal& journal, const Config& config,
                                                  const std::string& period_name,
                                                  const std::function<void(uint64_t, uint64_t)>& progress = {});

// The signed JSON file (report::signed_report_json over report::report_canonical).
[[nodiscard]] Result<std::string> sign_report(const report::Report& report, Signer& signer);

// A report built and signed with the config's key: what `report` and `evidence` write.
struct SignedReport {
  report::Report report;
  std::string json;  // the signed JSON
  Signer signer;     // the key that signed it
};
[[nodiscard]] Result<SignedReport> build_signed_report(Journal& journal, const Config& config,
                                                       const std::string& period_name,
                                                       const std::function<void(uint64_t, uint64_t)>& progress = {});

// The records a report reads: the seq range holding every reading of its window, or
// nullopt when the window holds none.
[[nodiscard]] Result<std::optional<std::pair<uint64_t, uint64_t>>> report_seq_range(
    Journal& journal, const MonitoringConfig& monitoring, const MonitoringPeriod& period);

}  // namespace mrv::agent
