#pragma once
// The checks verify makes of a bundle's report.json (docs/report-format.md §7): its
// signature by a trusted key, its config (the text it carries hashes to the SHA-256 it
// names), its annex (the end checkpoint is one the bundle proves, the previous period's
// checkpoint is signed and consistent with it), and the recomputation: the bundle's
// records go through the same report::ReportEngine, and every parameter, result and the
// credited emission reductions must come out as the report says.
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

namespace mrv::evidence {

class BundleReportCheck {
 public:
  // `config_texts`: the bundle's configs by hash (they must outlive the check).
  BundleReportCheck(const std::string& report_text, std::span<const PublicKey> trusted,
                    const std::map<std::string, std::string>& config_texts, BundleVerdict& verdict);
  // Every record of the bundle, in order, as decoded (also one whose signature or link
  // failed: a tampered value must show in the numbers too).
  void push(const RecordFields& record);
  // `checkpoint_notes`: the notes of the checkpoints the bundle proved against its records.
  void finish(const std::vector<std::string>& checkpoint_notes);

 private:
  void failure(std::string message);
  void check_signature(std::span<const PublicKey> trusted);
  void check_annex(const std::vector<std::string>& checkpoint_notes);
  void compare(const report::Report& recomputed);

  BundleVerdict& verdict_;
  std::span<const PublicKey> trusted_;
  const std::map<std::string, std::string>& config_texts_;
  std::optional<report::SignedReport> report_;
  std::unique_ptr<Config> config_;
  std::map<std::string, std::unique_ptr<Config>> record_configs_;
  std::optional<report::ReportEngine> engine_;
};

}  // namespace mrv::evidence
