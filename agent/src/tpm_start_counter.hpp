#pragma once
// A start bound to the TPM's monotonic counter (docs/verification.md §8.4): at each start
// with a key held in the TPM, the agent increments an NV counter and has the attestation
// key of the key's statement certify its value (TPM2_NV_Certify), the journal's head as
// the qualifying data. The journal keeps each certification; export puts them into
// bundles, where a journal restored from an old copy shows as a jump in the counter.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::agent {

struct StartCounterRequest {
  std::filesystem::path key_file;  // a TSS2 key; its attestation key is kept beside it (tpm_ak_path)
  std::string tcti;
  uint32_t nv_index = 0;
  std::string key_id_hex;  // the signing key's id, named in the entry
  uint64_t head_seq = 0;   // the journal's last record (0: none)
  std::string head_hash;   // its hash, 32 raw bytes (zeros for none)
};

// Increments and certifies the counter (defining it first if the TPM has no such index):
// the start, its entry the JSON object of docs/verification.md §8.4. Fails, naming the
// step, when the key has no kept attestation key or the TPM refuses.
[[nodiscard]] Result<TpmStart> certify_start(const StartCounterRequest& request);

// For `run`, before it loads the key for good (the tools need the TPM to themselves where
// it serves one client): the key's id, the journal's head (read-only) and certify_start.
// Logs the outcome, and an error when the counter moved by more than one since the
// journal's last start. Nothing when it fails: collecting never waits on the counter.
std::optional<TpmStart> start_on_tpm_counter(const Config& config);

}  // namespace mrv::agent
