#pragma once
// The TPM key statement (docs/verification.md §8): evidence that a signing key is held in
// a TPM. The TPM certified the key (TPM2_Certify) with an attestation key (AK); the
// statement carries the TPM's endorsement key (EK) certificate, the AK's and the key's
// public areas, the attestation (TPMS_ATTEST) and the AK's signature over it. It travels
// in keys.json as the key's "tpm" member and comes from outside: every byte is checked
// within the limits below before it is believed.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/core/error.hpp"

namespace mrv::evidence {

// Limits on a statement's parts (decoded bytes). A TPMS_ATTEST of TPM2_Certify with SHA-256
// names is about 150 bytes, a TPM2B_PUBLIC of an ECC key about 90, an EK certificate 1 to
// 2 KiB: the limits leave room and no more.
inline constexpr size_t kMaxTpmStatementJson = 16 * 1024;  // the "tpm" member's JSON text
inline constexpr size_t kMaxTpmAttest = 1024;              // certify_info (TPMS_ATTEST)
inline constexpr size_t kMaxTpmPublic = 1024;              // ak_public, key_public (TPM2B_PUBLIC)
inline constexpr size_t kMaxEkCertificate = 8 * 1024;      // ek_certificate (DER)
inline constexpr size_t kMaxTpmSignature = 128;            // certify_signature (DER ECDSA)

// TPMA_OBJECT bits (TPM 2.0 Part 2 §8.3).
inline constexpr uint32_t kTpmaFixedTpm = 1u << 1, kTpmaFixedParent = 1u << 4,
                          kTpmaSensitiveDataOrigin = 1u << 5, kTpmaRestricted = 1u << 16,
                          kTpmaSign = 1u << 18;

// An ECC P-256 key's public area (TPMT_PUBLIC), as a TPM2B_PUBLIC holds it.
struct TpmEccPublic {
  uint32_t attributes = 0;
  std::string point;         // 0x04 || x || y, 65 bytes
  std::string tpmt_public;   // the TPMT_PUBLIC bytes: the object's name is nameAlg || SHA-256 of them
  std::string name() const;  // 0x000b || SHA-256(tpmt_public)
};

// Parses a TPM2B_PUBLIC of an ECC NIST P-256 key with nameAlg SHA-256: the whole input,
// nothing after it, at most kMaxTpmPublic bytes.
[[nodiscard]] Result<TpmEccPublic> parse_tpm2b_public(std::string_view bytes);

// A TPMS_ATTEST of TPM2_Certify (magic TPM_GENERATED_VALUE, type TPM_ST_ATTEST_CERTIFY).
struct TpmCertifyInfo {
  std::string qualified_signer, extra_data, name, qualified_name;
  uint64_t clock = 0, firmware_version = 0;
  uint32_t reset_count = 0, restart_count = 0;
  bool safe = false;
};

// The whole input, nothing after it, at most kMaxTpmAttest bytes.
[[nodiscard]] Result<TpmCertifyInfo> parse_tpms_attest_certify(std::string_view bytes);

// A TPMS_ATTEST of TPM2_NV_Certify (type TPM_ST_ATTEST_NV) of an NV index: the whole
// input, nothing after it, at most kMaxTpmAttest bytes.
struct TpmNvCertifyInfo {
  std::string extra_data, index_name, contents;
  uint64_t offset = 0;
};
[[nodiscard]] Result<TpmNvCertifyInfo> parse_tpms_attest_nv(std::string_view bytes);

// An NV index's public area (TPMS_NV_PUBLIC) with nameAlg SHA-256 and no authPolicy.
struct TpmNvPublic {
  uint32_t index = 0, attributes = 0;
  uint64_t data_size = 0;
  std::string name;  // 0x000b || SHA-256 of the bytes
  bool is_counter() const { return ((attributes >> 4) & 0xf) == 1; }  // TPM_NT_COUNTER
};
[[nodiscard]] Result<TpmNvPublic> parse_tpms_nv_public(std::string_view bytes);

// True when `signature` (DER ECDSA) over `info` verifies with the P-256 key of the
// TPM2B_PUBLIC `ak_public`, a restricted signing key fixed to its TPM.
bool ak_signed(std::string_view ak_public, std::string_view info, std::string_view signature);

// What a verifier can say about a key's TPM claim.
enum class TpmClaim { verified, not_claimed, unverifiable };
std::string_view to_string(TpmClaim c);  // "verified", "not claimed", "claimed but unverifiable"

struct TpmCheck {
  TpmClaim claim = TpmClaim::not_claimed;
  std::string detail;  // why unverifiable, or what was verified (the EK certificate's subject and issuer)
};

// Checks a statement (the JSON text of keys.json's "tpm" member) for the key whose
// SubjectPublicKeyInfo DER is `spki_der`, against the PEM certificates of `tpm_ca_pem`
// (TPM manufacturers' roots, self-signed, and their intermediates). Empty statement: not
// claimed. No CA given: unverifiable. `now_s`: the time certificates must be valid at.
TpmCheck check_tpm_statement(std::string_view statement_json, std::string_view spki_der,
                             std::string_view tpm_ca_pem, int64_t now_s);

// What a registry's activation (docs/verification.md §8.5) and a verifier of starts
// (§8.4) take from a statement that checked: the EK certificate (DER), the AK's name
// (0x000b || SHA-256 of its TPMT_PUBLIC) and its TPM2B_PUBLIC.
struct TpmStatementParts {
  std::string ek_certificate, ak_name, ak_public;
};
[[nodiscard]] Result<TpmStatementParts> tpm_statement_parts(std::string_view statement_json);

}  // namespace mrv::evidence
