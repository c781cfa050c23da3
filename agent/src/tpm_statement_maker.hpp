#pragma once
// Makes the TPM key statement (docs/verification.md §8) for a key held in the TPM: the EK
// certificate, an attestation key and TPM2_Certify of the signing key by it; answers a
// registry's activation challenge for that attestation key (§8.5); and keeps the
// attestation key, wrapped by the EK, for the start counter (§8.4).
#include <filesystem>
#include <memory>
#include <string>

#include "mrv/core/error.hpp"

namespace mrv::agent {

class TpmTools;

// One use of the TPM through tpm2-tools, reached at `tcti` (empty: the tools' default).
// The EK and the attestation key made for the statement stay loadable (as context
// files in a temporary folder) until the session ends, so a challenge sealed to them can
// be answered.
class TpmStatementSession {
 public:
  TpmStatementSession(std::filesystem::path key_file, std::string tcti);
  ~TpmStatementSession();
  TpmStatementSession(const TpmStatementSession&) = delete;
  TpmStatementSession& operator=(const TpmStatementSession&) = delete;

  // The statement's JSON text for the TSS2 private key file.
  [[nodiscard]] Result<std::string> make_statement();
  // TPM2_ActivateCredential with this session's attestation key and EK: the credential
  // of a challenge (`tpm2_tools_file`: what tpm2_activatecredential -i reads), or why the
  // TPM would not open it.
  [[nodiscard]] Result<std::string> activate(const std::string& tpm2_tools_file);
  // Writes the statement beside the key (tpm_statement_path) and the attestation key it
  // names (tpm_ak_path: its public and EK-wrapped private area, loadable only in this TPM).
  [[nodiscard]] Result<void> keep(const std::string& statement) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Where a key's statement is kept (keygen --tpm, tpm-activate), and export finds it: beside the key.
inline std::filesystem::path tpm_statement_path(const std::filesystem::path& key_file) {
  return key_file.string() + ".tpm.json";
}
// Where the statement's attestation key is kept, for the start counter: beside the key.
// One attestation key serves a TPM's statements for good: keygen --tpm makes it, later
// statements (tpm-activate) and every start load it, so starts certified before an
// activation verify with the activated statement's ak_public.
inline std::filesystem::path tpm_ak_path(const std::filesystem::path& key_file) {
  return key_file.string() + ".tpm-ak.json";
}

// Loads the kept attestation key (tpm_ak_path) in `tools`'s folder: the EK remade as
// ek.ctx (the same key: it derives from the TPM's seed), the AK as ak.ctx and ak.pub.
// Fails naming the file or the step; not_found when no key is kept.
[[nodiscard]] Result<void> load_kept_ak(TpmTools& tools, const std::filesystem::path& key_file);

}  // namespace mrv::agent
