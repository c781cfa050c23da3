#pragma once
// The checks verify makes of a bundle's report.json (docs/report-format.md §7): its
// signature by a trusted key, its config (the text it carries hashes to the SHA-256 it
// names), its annex (the end checkpoint is one the bundle proves, the previous period's
// checkpoint is signed and consistent with it), its site records (report_site_records.hpp:
// the engine takes them first, as it did when the report was made), and the recomputation:
// the bundle's records go through the same report::ReportEngine, and every parameter,
// result and the credited emission reductions must come out as the report says. A
// cross-check the report says failed is a finding.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mrv/evidence/bundle.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/reading.hpp"
#include "mrv/report/engine.hpp"
#include "mrv/report/json.hpp"
#include "report_site_records.hpp"

namespace mrv::evidence {

class BundleReportCheck {
 public:
  // Called with each site record line of the report that verified (decoded), in seq order.
  using SiteRecordSink = std::function<void(const RecordFields&)>;

  // `config_texts`: the bundle's configs by hash (they must outlive the check); `scope`:
  // what the manifest says the bundle holds. Checks the report's signature, config and
  // site record lines now, before any record.
  BundleReportCheck(const std::string& report_text, std::span<const PublicKey> trusted,
                    const std::map<std::string, std::string>& config_texts, const BundleScope& scope,
                    const SiteRecordSink& site_record_verified, BundleVerdict& verdict);
  // Every record of the bundle, in order, as decoded, with its bytes (also one whose
  // signature or link failed: a tampered value must show in the numbers too).
  void push(const RecordFields& record, std::string_view canonical);
  // `checkpoint_notes`: the notes of the checkpoints the bundle proved against its records.
  void finish(const std::vector<std::string>& checkpoint_notes);

 private:
  void failure(std::string message);
  void check_signature(std::span<const PublicKey> trusted);
  void check_annex(const std::vector<std::string>& checkpoint_notes);
  void compare(const report::Report& recomputed);
  void find_failed_cross_checks();

  BundleVerdict& verdict_;
  std::span<const PublicKey> trusted_;
  const std::map<std::string, std::string>& config_texts_;
  std::optional<report::SignedReport> report_;
  std::unique_ptr<Config> config_;
  std::map<std::string, std::unique_ptr<Config>> record_configs_;
  std::optional<report::ReportEngine> engine_;
  std::optional<ReportSiteRecords> site_records_;
};

}  // namespace mrv::evidence
