#pragma once
// The agent's starts bound to the TPM's monotonic counter (docs/verification.md §8.4), as
// a bundle's tpm_starts.json lists them: each a TPM2_NV_Certify of the counter by the
// attestation key of a key's TPM statement, the journal's head as qualifying data. From
// outside: every entry is checked within the limits below before it is believed.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mrv::evidence {

inline constexpr size_t kMaxTpmStarts = 100'000;  // entries of tpm_starts.json

struct TpmStartsCheck {
  std::string problem;  // not empty: the starts are claimed but unverifiable, and why
  std::vector<uint64_t> counters;  // the certified values, increasing
  // Each start's head: (head_seq, its record's hash as 64 hex), for the records to confirm.
  std::vector<std::pair<uint64_t, std::string>> heads;
  // "verified (…)" or "claimed but unverifiable (…)": the verifier's line.
  std::string describe() const;
};

// The keys whose TPM statement verified (§8.2), by key id: the statement's attestation
// key certifies that key's starts, and its EK certificate names the TPM.
struct TpmStartKey {
  std::string ak_public;       // TPM2B_PUBLIC
  std::string ek_certificate;  // DER
};

// Checks signatures, the counter's NV index and values, and that one TPM (one EK
// certificate) counted every start; the heads are left to the caller, which holds the
// records.
TpmStartsCheck check_tpm_starts(std::string_view json_text, const std::map<std::string, TpmStartKey>& keys);

}  // namespace mrv::evidence
