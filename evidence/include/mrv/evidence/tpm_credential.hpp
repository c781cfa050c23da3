#pragma once
// TPM2_MakeCredential done in software (TPM 2.0 Part 1 §24, "Credential Protection"):
// how a registry binds a TPM key statement's attestation key (AK) to the TPM whose
// endorsement key (EK) certificate the statement carries. The credential is sealed to
// the EK's public key and to the AK's name; only the TPM that holds that EK can open it
// (TPM2_ActivateCredential), and only while an object of that name is loaded in it. So
// an answer that returns the credential proves the AK lives in that TPM
// (docs/verification.md §8.5).
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv::evidence {

inline constexpr size_t kTpmCredentialBytes = 32;

struct TpmCredentialChallenge {
  std::string id_object;         // TPM2B_ID_OBJECT: 2-byte size, TPM2B_DIGEST(HMAC), encrypted credential
  std::string encrypted_secret;  // TPM2B_ENCRYPTED_SECRET: 2-byte size, the seed under RSA-OAEP
  // The file tpm2_activatecredential -i reads (tpm2-tools 5: magic 0xBADCC0DE, version 1,
  // then the two structures above).
  std::string tpm2_tools_file() const;
};

// Seals `credential` (1..64 bytes) to the RSA 2048 EK of `ek_certificate_der` (the
// default EK template: nameAlg SHA-256, AES-128-CFB) and to `ak_name` (nameAlg ||
// digest). An EK that is not RSA is refused, naming its type.
[[nodiscard]] Result<TpmCredentialChallenge> make_tpm_credential(std::string_view ek_certificate_der,
                                                                 std::string_view ak_name,
                                                                 std::string_view credential);

}  // namespace mrv::evidence
