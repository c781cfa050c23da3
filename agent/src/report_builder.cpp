#include "mrv/agent/report_builder.hpp"

#include <chrono>
#include <limits>
#include <map>
#include <memory>

#include "mrv/core/canonical.hpp"
#include "mrv/core/merkle.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/report/engine.hpp"
#include "mrv/report/json.hpp"

namespace mrv::agent {
namespace {

Error report_error(std::string context, std::string message) {
  return Error{ErrorCode::invalid_argument, std::move(context), std::move(message)};
}

const MonitoringPeriod* find_period(const MonitoringConfig& m, const std::string& name) {
  for (const auto& p : m.periods)
    if (p.name == name) return &p;
  return nullptr;
}

// The period that ends last at or before this one's start.
const MonitoringPeriod* previous_period(const MonitoringConfig& m, const MonitoringPeriod& period) {
  const MonitoringPeriod* best = nullptr;
  for (const auto& p : m.periods)
    if (p.end_ms <= period.start_ms && (!best || p.end_ms > best->end_ms)) best = &p;
  return best;
}

// The first checkpoint that covers every record of the period's window: the one a
// report of that period names.
Result<std::optional<StoredCheckpoint>> first_checkpoint_covering(Journal& journal, uint64_t size) {
  auto found = journal.checkpoints(size, std::numeric_limits<uint64_t>::max());
  if (!found) return tl::unexpected(found.error());
  if (found->empty()) return std::optional<StoredCheckpoint>();
  return std::optional<StoredCheckpoint>(found->front());
}

Result<std::optional<StoredCheckpoint>> period_end_checkpoint(Journal& journal, const MonitoringConfig& m,
                                                              const MonitoringPeriod& period) {
  auto range = report_seq_range(journal, m, period);
  if (!range) return tl::unexpected(range.error());
  return first_checkpoint_covering(journal, *range ? (*range)->second : 1);
}

// `last_seq`: the last record of the period's window (the range build_report read).
Result<void> fill_annex(Journal& journal, const MonitoringConfig& m, const MonitoringPeriod& period,
                        uint64_t last_seq, report::Report& report) {
  auto end = first_checkpoint_covering(journal, std::max<uint64_t>(last_seq, 1));
  if (!end) return tl::unexpected(end.error());
  if (!*end)
    return tl::unexpected(report_error("period " + period.name,
                                       "no checkpoint covers the period's records yet: the agent makes one within "
                                       "[signing] checkpoint_interval_ms; run the report again after it"));
  report.annex.end_checkpoint = (*end)->checkpoint.note;
  const MonitoringPeriod* previous = previous_period(m, period);
  if (!previous) return {};
  auto before = period_end_checkpoint(journal, m, *previous);
  if (!before) return tl::unexpected(before.error());
  if (!*before || (*before)->checkpoint.tree_size > (*end)->checkpoint.tree_size) return {};
  report.annex.previous_checkpoint = (*before)->checkpoint.note;
  auto proof = merkle_consistency_proof(journal.tree_nodes(), (*before)->checkpoint.tree_size,
                                        (*end)->checkpoint.tree_size);
  if (!proof) return tl::unexpected(proof.error());
  for (const Sha256& h : *proof) report.annex.consistency_proof_hex.push_back(to_hex(h));
  return {};
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Result<std::optional<std::pair<uint64_t, uint64_t>>> report_seq_range(Journal& journal, const MonitoringConfig& m,
                                                                        const MonitoringPeriod& period) {
  return journal.seq_range_for_time(period.start_ms - m.boundary_window_ms, period.end_ms + m.boundary_window_ms);
}

Result<report::Report> build_report(Journal& journal, const Config& config, const std::string& period_name,
                                    const std::function<void(uint64_t, uint64_t)>& progress) {
  const MonitoringConfig& m = config.monitoring;
  if (!m.enabled) return tl::unexpected(report_error(config.file.string(), "the config has no [monitoring] section"));
  const MonitoringPeriod* period = find_period(m, period_name);
  if (!period)
    return tl::unexpected(report_error(config.file.string(), "no [[monitoring.periods]] entry named '" + period_name + "'"));

  // The configs records name, parsed once each: their meter serials and calibration.
  std::map<std::string, std::unique_ptr<Config>> configs;
  auto resolve = [&](const std::string& hash) -> const Config* {
    auto [it, fresh] = configs.try_emplace(hash);
    if (fresh)
      if (auto text = journal.config_text(hash); text && *text)
        if (auto parsed = parse_config(**text, config.file, false)) it->second = std::make_unique<Config>(std::move(*parsed));
    return it->second.get();
  };
  report::ReportEngine engine(config, *period, resolve);
  std::optional<report::Report> built;
  auto read = journal.read_snapshot([&]() -> Result<void> {
    auto range = report_seq_range(journal, m, *period);
    if (!range) return tl::unexpected(range.error());
    // Every site record so far, before the readings: a calibration found failed later, an
    // exchange entered late, change how the window's readings count.
    auto site_records = journal.site_records(std::numeric_limits<uint64_t>::max());
    if (!site_records) return tl::unexpected(site_records.error());
    std::vector<RecordLine> site_lines;
    for (const StoredRecord& r : *site_records) {
      auto fields = decode_record(r.canonical);
      if (!fields) return tl::unexpected(Error{ErrorCode::corruption, "record " + std::to_string(r.seq), fields.error().message});
      engine.add_site_record(*fields);
      site_lines.push_back({r.seq, r.canonical, to_hex(r.hash), to_base64(r.signature)});  // as a record line holds them
    }
    if (*range) {
      auto [first, last] = **range;
      uint64_t done = 0, total = last - first + 1;
      std::optional<Error> failure;
      auto walked = journal.for_each_record(first, last, [&](const StoredRecord& r) {
        if (failure) return;
        auto fields = decode_record(r.canonical);
        if (!fields) failure = Error{ErrorCode::corruption, "record " + std::to_string(r.seq), fields.error().message};
        else engine.push(*fields);
        if (progress && ++done % 65536 == 0) progress(done, total);
      });
      if (!walked) return tl::unexpected(walked.error());
      if (failure) return tl::unexpected(*failure);
      if (progress) progress(total, total);
    }
    auto report = engine.finish();
    if (!report) return tl::unexpected(report.error());
    report->generated_ms = now_ms();
    report->site_records = std::move(site_lines);
    report->site_records_through =
        std::max(journal.last_seq(), report->site_records.empty() ? 0 : report->site_records.back().seq);
    // The annex covers the window's records and the site records the report used.
    uint64_t last_seq = std::max<uint64_t>(*range ? (*range)->second : 1, report->seqs.last);
    if (auto annex = fill_annex(journal, m, *period, last_seq, *report); !annex) return tl::unexpected(annex.error());
    built = std::move(*report);
    return {};
  });
  if (!read) return tl::unexpected(read.error());
  return std::move(*built);
}

Result<std::string> sign_report(const report::Report& report, Signer& signer) {
  std::string canonical = report::report_canonical(report);
  auto signature = signer.sign(canonical);
  if (!signature) return tl::unexpected(signature.error());
  return report::signed_report_json(
      canonical, {std::string(to_string(signer.algorithm())), signer.key_id_hex(), to_base64(*signature)});
}

Result<SignedReport> build_signed_report(Journal& journal, const Config& config, const std::string& period_name,
                                         const std::function<void(uint64_t, uint64_t)>& progress) {
  auto signer = Signer::load(config.signing.key_file, config.signing.tpm_tcti);
  if (!signer)
    return fail(signer.error().code, signer.error().where,
                "a report is signed with the agent's key: " + signer.error().message);
  auto built = build_report(journal, config, period_name, progress);
  if (!built) return tl::unexpected(built.error());
  auto json = sign_report(*built, *signer);
  if (!json) return tl::unexpected(json.error());
  return SignedReport{std::move(*built), std::move(*json), std::move(*signer)};
}

}  // namespace mrv::agent
