#pragma once
// Makes the TPM key statement (docs/verification.md §8) for a key held in the TPM: the EK
// certificate, an attestation key and TPM2_Certify of the signing key by it.
#include <filesystem>
#include <string>

#include "mrv/core/error.hpp"

namespace mrv::agent {

// The statement's JSON text for the TSS2 private key `key_file`, with the TPM reached at
// `tcti` (empty: the tools' default). Runs tpm2-tools; writes nothing but temporary files.
[[nodiscard]] Result<std::string> make_tpm_statement(const std::filesystem::path& key_file, const std::string& tcti);

// Where keygen --tpm keeps a key's statement, and export finds it: beside the key.
inline std::filesystem::path tpm_statement_path(const std::filesystem::path& key_file) {
  return key_file.string() + ".tpm.json";
}

}  // namespace mrv::agent
