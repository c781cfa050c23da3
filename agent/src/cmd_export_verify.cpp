// export and verify: writing what a verifier needs, and checking it as a verifier would.
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "mrv/evidence/tpm_statement.hpp"
#include "tpm_statement_maker.hpp"
#include "mrv/evidence/bundle.hpp"
#include "mrv/evidence/export_file.hpp"
#include "mrv/evidence/ocmf.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/report/json.hpp"

namespace mrv::agent {
namespace {

std::optional<std::string> read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `report_last_seq`: the carried report's seqs.last (0 without a report).
int write_bundle_file(const ExportArgs& args, Journal& journal, const Config& config, int64_t from_ms, int64_t to_ms,
                      const std::optional<std::string>& report_json, uint64_t report_last_seq) {
  evidence::BundleRequest request;
  request.report_json = report_json;
  // The report's seqs cover the site records it used, which may come after the window's
  // last record: the bundle holds them, so its checkpoints hold the report's end checkpoint.
  request.reach_seq = report_last_seq;
  request.from_ms = from_ms;
  request.to_ms = to_ms;
  request.out = args.out;
  if (!args.since_checkpoint.empty()) {
    request.since_checkpoint = read_text_file(args.since_checkpoint);
    if (!request.since_checkpoint) {
      std::cerr << args.since_checkpoint.string() << ": cannot read\n";
      return kExitFailure;
    }
  }
  request.progress = terminal_progress("exporting records");
  auto signer = Signer::load(config.signing.key_file, config.signing.tpm_tcti);
  if (!signer) {
    std::cerr << "a bundle's manifest is signed with the agent's key: " << signer.error().to_string() << "\n";
    return kExitFailure;
  }
  request.signer = &*signer;
  if (signer->in_tpm()) {  // the statement keygen --tpm left beside the key, if any
    auto statement = read_text_file(tpm_statement_path(config.signing.key_file));
    if (statement && statement->size() <= evidence::kMaxTpmStatementJson)
      request.tpm_statements[signer->key_id_hex()] = *statement;
    else
      std::cerr << "note: no TPM key statement beside the key (" << tpm_statement_path(config.signing.key_file).string()
                << "): verifiers will report the TPM as not claimed\n";
  }
  auto summary = evidence::write_bundle(journal, config.site_id, request);
  if (!summary) {
    std::cerr << summary.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cerr << "bundle: " << summary->records << " records (seq " << summary->first_seq << ".."
            << summary->last_seq << "), " << summary->checkpoints << " checkpoints (closing tree size "
            << summary->closing_tree_size << ") -> " << args.out.string() << "\n";
  return kExitOk;
}

}  // namespace

int export_records(const ExportArgs& args_given) {
  ExportArgs args = args_given;
  std::optional<std::string> report_json;
  uint64_t report_last_seq = 0;
  if (!args.report.empty()) {
    report_json = read_text_file(args.report);
    auto parsed = report_json ? report::parse_signed_report(*report_json)
                              : tl::unexpected(Error{ErrorCode::io, args.report.string(), "cannot read"});
    if (!parsed) {
      std::cerr << args.report.string() << ": " << parsed.error().message << "\n";
      return kExitUsage;
    }
    if (args.format != "bundle") {
      std::cerr << "--report: only a bundle carries a report\n";
      return kExitUsage;
    }
    report_last_seq = parsed->seqs.last;
    if (args.from.empty()) args.from = std::to_string(parsed->window_from_ms);
    if (args.to.empty()) args.to = std::to_string(parsed->window_to_ms);
  }
  if (args.from.empty() || args.to.empty()) {
    std::cerr << "export: --from and --to are required (or --report)\n";
    return kExitUsage;
  }
  auto from_ms = parse_time_ms(args.from);
  auto to_ms = parse_time_ms(args.to);
  if (!from_ms || !to_ms) {
    std::cerr << "--from/--to: " << (!from_ms ? from_ms.error() : to_ms.error()).to_string() << "\n";
    return kExitUsage;
  }
  if (!args.since_checkpoint.empty() && args.format != "bundle") {
    std::cerr << "--since-checkpoint: only a bundle carries proofs\n";
    return kExitUsage;
  }
  auto opened = open_from_config(args.config);
  if (!opened) return kExitFailure;
  auto& [config, journal] = *opened;
  if (args.quarantine) {
    auto rows = evidence::write_quarantine_export(journal, *from_ms, *to_ms, args.out);
    if (!rows) {
      std::cerr << rows.error().to_string() << "\n";
      return kExitFailure;
    }
    std::cerr << "exported " << *rows << " quarantined messages to " << args.out.string() << "\n";
    return kExitOk;
  }
  if (args.format == "bundle") return write_bundle_file(args, journal, config, *from_ms, *to_ms, report_json, report_last_seq);
  if (args.format == "ocmf") {
    auto written = evidence::write_ocmf(journal, config, *from_ms, *to_ms, args.out);
    if (!written) {
      std::cerr << written.error().to_string() << "\n";
      return kExitFailure;
    }
    std::cerr << "exported " << *written << " OCMF records to " << args.out.string() << "\n";
    return kExitOk;
  }
  auto summary = evidence::write_export(journal, config.site_id, *from_ms, *to_ms, args.out);
  if (!summary) {
    std::cerr << summary.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cerr << "exported " << summary->records << " records (seq " << summary->first_seq << ".."
            << summary->last_seq << ") to " << args.out.string() << "\n";
  return kExitOk;
}

int verify(const std::filesystem::path& file, const std::vector<std::filesystem::path>& key_files,
           const std::vector<std::filesystem::path>& registry_key_files, const std::filesystem::path& since_checkpoint,
           bool json, const std::filesystem::path& tpm_ca, bool require_cosigned) {
  std::vector<PublicKey> keys, registry_keys;
  for (auto [files, out] : {std::pair{&key_files, &keys}, std::pair{&registry_key_files, &registry_keys}})
    for (const auto& k : *files) {
      auto key = PublicKey::load(k);
      if (!key) {
        std::cerr << key.error().to_string() << "\n";
        return kExitUsage;
      }
      out->push_back(std::move(*key));
    }
  if (evidence::looks_like_bundle(file)) {
    std::optional<std::string> since;
    if (!since_checkpoint.empty() && !(since = read_text_file(since_checkpoint))) {
      std::cerr << since_checkpoint.string() << ": cannot read\n";
      return kExitUsage;
    }
    std::optional<std::string> tpm_ca_pem = std::string();
    if (!tpm_ca.empty() && !(tpm_ca_pem = read_text_file(tpm_ca))) {
      std::cerr << tpm_ca.string() << ": cannot read\n";
      return kExitUsage;
    }
    evidence::BundleVerdict v =
        evidence::verify_bundle(file, keys, since, registry_keys, *tpm_ca_pem, require_cosigned);
    std::cout << (json ? v.to_json() + "\n" : v.to_text());
    return v.exit_code();
  }
  if (require_cosigned) {
    std::cerr << "verify: --require-cosigned is for a bundle (an NDJSON export has no checkpoints)\n";
    return kExitUsage;
  }
  if (keys.empty()) {
    std::cerr << "verify: an NDJSON export needs --public-key (its own keys are never trusted)\n";
    return kExitUsage;
  }
  std::ifstream in(file, std::ios::binary);
  evidence::VerifyReport r = evidence::verify_export(in, keys);
  int code = !r.ok()                     ? evidence::kVerifyFailed
             : r.declared_breaks.empty() ? evidence::kVerifyOk
                                         : evidence::kVerifyDeclaredBreaks;
  std::string verdict = !r.ok() ? "FAILED" : r.declared_breaks.empty() ? "VALID" : "VALID WITH DECLARED BREAKS";
  if (json) {
    nlohmann::json j = {{"verdict", verdict}, {"records", r.records},
                        {"first_seq", r.first_seq}, {"last_seq", r.last_seq},
                        {"declared_breaks", r.declared_breaks},
                        {"failure", r.failure.value_or("")}};
    std::cout << j.dump(2) << "\n";
    return code;
  }
  std::cout << file.string() << ": " << verdict << "\n";
  if (r.failure) std::cout << "  first failure: " << *r.failure << "\n";
  std::cout << "  records checked: " << r.records << " (seq " << r.first_seq << ".." << r.last_seq << ")\n";
  for (const auto& b : r.declared_breaks) std::cout << "  declared chain break: " << b << "\n";
  return code;
}

}  // namespace mrv::agent
