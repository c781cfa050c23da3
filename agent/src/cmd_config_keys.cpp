// check-config and keygen.
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/time_zone.hpp"
#include "mrv/report/spreadsheet_formula.hpp"
#include "tpm_statement_maker.hpp"

namespace mrv::agent {

namespace {

// The periods as JCM documents write them, and whether each follows the one before back
// to back (a hole between them is time no report credits).
void print_periods(const MonitoringConfig& m) {
  if (!m.enabled) return;
  TimeZone zone = TimeZone::locate(m.time_zone).value_or(TimeZone::utc());
  auto dates = [&](int64_t from, int64_t to) { return zone.jcm_date(from) + " - " + zone.jcm_date(to - 1); };
  if (m.crediting_period)
    std::cout << "crediting period: " << dates(m.crediting_period->start_ms, m.crediting_period->end_ms) << " ("
              << zone.name() << ")\n";
  const MonitoringPeriod* previous = nullptr;
  for (const MonitoringPeriod& p : m.periods) {  // sorted by start
    std::cout << "period " << p.name << ": " << dates(p.start_ms, p.end_ms) << " (" << zone.name() << ")";
    if (!previous) std::cout << ", the first\n";
    else if (previous->end_ms == p.start_ms) std::cout << ", back to back after " << previous->name << "\n";
    else
      std::cout << ", NOT back to back: " << dates(previous->end_ms, p.start_ms) << " after " << previous->name
                << " is in no period\n";
    previous = &p;
  }
  std::vector<std::string> problems;
  for (const std::string& key : m.workbook_missing()) problems.push_back("needs " + key);
  for (const MonitoringFormula& f : m.formulas)  // the workbook recalculates each one
    if (auto sheet = report::to_spreadsheet_formula(f.expression, [](const std::string& id) { return id; }); !sheet)
      problems.push_back("cannot recalculate " + f.id + ": " + sheet.error().to_string());
  if (problems.empty()) std::cout << "JCM workbook (report --format xlsx): ready, project " << m.reference_number << "\n";
  for (const std::string& p : problems) std::cout << "JCM workbook (report --format xlsx) " << p << "\n";
}

}  // namespace

int check_config(const std::filesystem::path& config) {
  auto c = load_config(config);
  if (!c) {
    for (const Error& e : c.error()) std::cerr << e.to_string() << "\n";
    std::cerr << c.error().size() << " error(s) in " << config.string() << "\n";
    return kExitFailure;
  }
  std::cout << config.string() << ": valid (site " << c->site_id << ", " << c->points.size()
            << " points, " << c->simulated_sources.size() << " simulated sources, config hash "
            << c->hash_hex << ")\n";
  if (is_tpm_key_file(c->signing.key_file)) {  // reach the TPM now, not when `run` starts
    auto signer = Signer::load(c->signing.key_file, c->signing.tpm_tcti);
    if (!signer) {
      std::cerr << signer.error().to_string() << "\n";
      return kExitFailure;
    }
    std::cout << "signing key: held in the TPM, ecdsa-p256-sha256, key id " << signer->key_id_hex()
              << " (signs checkpoints only)\n";
  }
  print_periods(c->monitoring);
  return kExitOk;
}

int keygen(const std::filesystem::path& out, const std::string& algorithm, bool tpm, const std::string& tcti) {
  auto alg = parse_algorithm(algorithm);
  if (!alg) {
    std::cerr << alg.error().to_string() << "\n";
    return kExitUsage;
  }
  if (tpm && *alg != Algorithm::ecdsa_p256_sha256) {
    std::cerr << "keygen --tpm makes an ECDSA P-256 key (--algorithm ecdsa-p256)\n";
    return kExitUsage;
  }
  {
    auto signer = tpm ? Signer::generate_in_tpm(tcti) : Signer::generate(*alg);
    if (!signer) {
      std::cerr << signer.error().to_string() << "\n";
      return kExitFailure;
    }
    if (auto r = signer->save(out); !r) {
      std::cerr << r.error().to_string() << "\n";
      return kExitFailure;
    }
    std::cout << signer->public_pem() << "key id: " << signer->key_id_hex() << "\n"
              << "algorithm: " << to_string(*alg) << "\n";
  }
  if (!tpm) return kExitOk;
  std::cout << "held in the TPM: " << out.string() << " is a TSS2 private key that only this TPM can use; "
            << "set [signing] mode = \"checkpoint\"\n";
  release_tpm();  // the tools below need the TPM to themselves when it serves one client
  TpmStatementSession session(out, tcti);
  auto statement = session.make_statement();
  if (!statement) {  // the key works; verifiers will say "not claimed"
    std::cerr << "warning: no TPM key statement (verifiers will report the TPM as not claimed): "
              << statement.error().to_string() << "\n";
    return kExitOk;
  }
  const auto path = tpm_statement_path(out);
  if (auto r = session.keep(*statement); !r) {
    std::cerr << r.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cout << "TPM key statement (EK certificate, attestation key, TPM2_Certify): " << path.string() << "\n";
  return kExitOk;
}

}  // namespace mrv::agent
