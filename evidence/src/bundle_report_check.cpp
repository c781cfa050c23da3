#include "bundle_report_check.hpp"

#include <nlohmann/json.hpp>

#include "mrv/core/checkpoint.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/merkle.hpp"

namespace mrv::evidence {
namespace {

using nlohmann::json;

const MonitoringPeriod* find_period(const MonitoringConfig& m, const std::string& name) {
  for (const auto& p : m.periods)
    if (p.name == name) return &p;
  return nullptr;
}

std::optional<Sha256> hash_of_hex(const std::string& hex) {
  auto raw = from_hex(hex);
  if (!raw || raw->size() != 32) return std::nullopt;
  Sha256 h{};
  std::copy(raw->begin(), raw->end(), reinterpret_cast<char*>(h.data()));
  return h;
}

// The first value that differs between the report and its recomputation, in words.
std::string first_difference(const json& said, const json& found) {
  const json& ps = said.value("parameters", json::array());
  const json& pf = found.value("parameters", json::array());
  for (size_t i = 0; i < std::min(ps.size(), pf.size()); ++i)
    if (ps[i] != pf[i]) {
      std::string id = ps[i].value("id", "?"), unit = ps[i].value("unit", "");
      if (ps[i].value("value", "") != pf[i].value("value", ""))
        return "parameter " + id + ": the report says " + ps[i].value("value", "?") + " " + unit +
               ", the records give " + pf[i].value("value", "?") + " " + unit;
      return "parameter " + id + ": its points' details (readings, boundaries, gaps or events) differ";
    }
  if (said.value("results", json()) != found.value("results", json())) return "the formula results differ";
  if (said.value("emission_reductions", json()) != found.value("emission_reductions", json()))
    return "the emission reductions differ: the report says " +
           said["emission_reductions"].value("credited_tco2", json()).dump() + " tCO2 credited, the records give " +
           found["emission_reductions"].value("credited_tco2", json()).dump();
  if (said.value("seqs", json()) != found.value("seqs", json()))
    return "the records read differ: the report says " + said.value("seqs", json()).dump() + ", the bundle gives " +
           found.value("seqs", json()).dump();
  return "the notes differ";
}

std::string text_of(const json& j) { return j.is_string() ? j.get<std::string>() : j.dump(); }

// " MWh": the unit of the parameter or formula `id` (a cross-check's value is converted
// to its reference's unit), "" when there is none.
std::string unit_of(const json& computed, const json& id) {
  for (const char* list : {"parameters", "results"})
    for (const json& item : computed.value(list, json::array()))
      if (item.is_object() && item.value("id", json()) == id) {
        std::string unit(1, ' ');  // appended, not " " + …: g++ 12 warns falsely (-Wrestrict) on that
        return unit.append(text_of(item.value("unit", json(""))));
      }
  return std::string();
}

// "cross-check <id> failed: <value id> <value> <unit> against <reference id> <reference>
// <unit> differ by <d> % (tolerance <t> %)", as docs/verification.md §6 step 9 words it.
std::string cross_check_finding(const json& computed, const json& x) {
  const json value = x.value("value", json()), reference = x.value("reference", json());
  const json value_id = x.value("value_id", json()), reference_id = x.value("reference_id", json());
  std::string said = "cross-check " + text_of(x.value("id", json())) + " failed: ";
  if (value.is_null() || reference.is_null()) return said + "no data for " + text_of(value.is_null() ? value_id : reference_id);
  std::string unit = unit_of(computed, reference_id);
  return said + text_of(value_id) + " " + text_of(value) + unit + " against " + text_of(reference_id) + " " +
         text_of(reference) + unit + " differ by " + text_of(x.value("difference_percent", json())) +
         " % (tolerance " + text_of(x.value("tolerance_percent", json())) + " %)";
}

}  // namespace

BundleReportCheck::BundleReportCheck(const std::string& text, std::span<const PublicKey> trusted,
                                     const std::map<std::string, std::string>& config_texts, const BundleScope& scope,
                                     const SiteRecordSink& site_record_verified, BundleVerdict& verdict)
    : verdict_(verdict), trusted_(trusted), config_texts_(config_texts) {
  auto parsed = report::parse_signed_report(text);
  if (!parsed) {
    failure("report.json: " + parsed.error().message);
    return;
  }
  report_ = std::move(*parsed);
  check_signature(trusted);
  if (to_hex(sha256(report_->config_text)) != report_->config_sha256) {
    failure("report.json: the config text it carries does not hash to its config.sha256");
    return;
  }
  auto config = parse_config(report_->config_text, "report.json config", false);
  if (!config) {
    failure("report.json: its config does not load: " + config.error().front().to_string());
    return;
  }
  config_ = std::make_unique<Config>(std::move(*config));
  const MonitoringPeriod* period = find_period(config_->monitoring, report_->period_name);
  if (!period || period->start_ms != report_->period_start_ms || period->end_ms != report_->period_end_ms) {
    failure("report.json: period '" + report_->period_name + "' is not its config's");
    return;
  }
  auto resolve = [this](const std::string& hash) -> const Config* {
    auto [it, fresh] = record_configs_.try_emplace(hash);
    if (fresh)
      if (auto text = config_texts_.find(hash); text != config_texts_.end())
        if (auto c = parse_config(text->second, "configs/" + hash + ".toml", false))
          it->second = std::make_unique<Config>(std::move(*c));
    return it->second.get();
  };
  engine_.emplace(*config_, *period, resolve);
  // The report's engine took every site record of the journal before the first reading
  // (a failed calibration or a late exchange changes how earlier readings count): so
  // does this one, once each line has been checked.
  site_records_.emplace(*report_, trusted, scope, [this](std::string m) { failure(std::move(m)); }, verdict_.notes);
  for (const RecordFields& f : site_records_->take_verified()) {
    engine_->add_site_record(f);
    if (site_record_verified) site_record_verified(f);
  }
}

void BundleReportCheck::failure(std::string message) { verdict_.failures.try_emplace("report", std::move(message)); }

void BundleReportCheck::check_signature(std::span<const PublicKey> trusted) {
  auto raw = from_base64(report_->signature.value_b64);
  for (const PublicKey& k : trusted)
    if (k.key_id_hex() == report_->signature.key_id_hex && raw && k.verify(report_->canonical, *raw)) return;
  failure("report.json: its signature does not verify with a trusted key (key " + report_->signature.key_id_hex + ")");
}

// Only records the report could have read: seqs only grow, so one after its last was
// written after it (a bundle exported later may hold more of the window).
void BundleReportCheck::push(const RecordFields& record, std::string_view canonical) {
  if (site_records_) site_records_->on_range_record(record, canonical);
  if (engine_ && report_->seqs.records > 0 && record.seq <= report_->seqs.last) engine_->push(record);
}

void BundleReportCheck::check_annex(const std::vector<std::string>& notes) {
  const report::Annex& a = report_->annex;
  if (std::find(notes.begin(), notes.end(), a.end_checkpoint) == notes.end())
    return failure("report.json: its end checkpoint is not one of the bundle's checkpoints");
  if (a.previous_checkpoint.empty()) return;
  auto end = parse_checkpoint(a.end_checkpoint);
  auto previous = parse_checkpoint(a.previous_checkpoint);
  if (!end || !previous) return failure("report.json: a checkpoint in its annex does not parse");
  bool signed_by_trusted = false;
  for (const PublicKey& k : trusted_) signed_by_trusted |= verify_checkpoint(*previous, k);
  if (!signed_by_trusted) return failure("report.json: the previous period's checkpoint is not signed by a trusted key");
  std::vector<Sha256> proof;
  for (const std::string& hex : a.consistency_proof_hex) {
    auto h = hash_of_hex(hex);
    if (!h) return failure("report.json: a consistency proof hash is not 32 bytes of hex");
    proof.push_back(*h);
  }
  if (!merkle_verify_consistency(previous->tree_size, end->tree_size, previous->root, end->root, proof))
    failure("report.json: the previous period's checkpoint (tree size " + std::to_string(previous->tree_size) +
            ") is not consistent with the end checkpoint (tree size " + std::to_string(end->tree_size) + ")");
}

void BundleReportCheck::compare(const report::Report& recomputed) {
  std::string found = report::recomputable_part(recomputed);
  if (found == report_->computed) {
    verdict_.notes.push_back("report " + report_->period_name + ": recomputed from the bundle's records, every "
                             "parameter and result matches (credited " +
                             std::to_string(recomputed.credited_tco2) + " tCO2)");
    return;
  }
  failure("report.json: recomputed from the bundle's records, " +
          first_difference(json::parse(report_->computed), json::parse(found)));
}

// A failed cross-check changes no number (docs/report-format.md §2), but someone should
// look: one finding each, with both values and the difference.
void BundleReportCheck::find_failed_cross_checks() {
  json computed = json::parse(report_->computed, nullptr, false);
  if (!computed.is_object()) return;
  for (const json& x : computed.value("cross_checks", json::array()))
    if (x.is_object() && x.value("pass", true) != true)
      verdict_.findings.push_back("report " + report_->period_name + ": " + cross_check_finding(computed, x));
}

void BundleReportCheck::finish(const std::vector<std::string>& checkpoint_notes) {
  if (!report_) return;
  if (site_records_) site_records_->finish();
  find_failed_cross_checks();
  check_annex(checkpoint_notes);
  if (!engine_) return;
  auto recomputed = engine_->finish();
  if (!recomputed) return failure("report.json: recomputation failed: " + recomputed.error().message);
  compare(*recomputed);
}

}  // namespace mrv::evidence
