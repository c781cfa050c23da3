// The TPM key statement of keys.json (docs/verification.md §8): its TPMS_ATTEST and
// TPM2B_PUBLIC parsers, the whole check over a statement's JSON, and the registry's
// MakeCredential on its EK certificate. The first byte chooses: 0 the attestation, 1 a
// public area, 2 an EK certificate (DER) to seal a credential to, else the input is the
// statement's JSON.
#include "fuzz_support.hpp"
#include "mrv/evidence/tpm_credential.hpp"
#include "mrv/evidence/tpm_statement.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view rest = mrv::fuzz::as_text(data + 1, size - 1);
  switch (data[0]) {
    case 0: {
      auto info = mrv::evidence::parse_tpms_attest_certify(rest);
      MRV_FUZZ_CHECK(!info || rest.size() <= mrv::evidence::kMaxTpmAttest);
      break;
    }
    case 1: {
      auto pub = mrv::evidence::parse_tpm2b_public(rest);
      MRV_FUZZ_CHECK(!pub || (pub->point.size() == 65 && pub->tpmt_public.size() + 2 == rest.size()));
      break;
    }
    case 2: {
      static const std::string name = std::string("\x00\x0b", 2) + std::string(32, 'n');
      auto sealed = mrv::evidence::make_tpm_credential(rest, name, std::string(32, 'c'));
      // RSA 2048: the seed under OAEP is 256 bytes; the credential, its size and HMAC 68.
      MRV_FUZZ_CHECK(!sealed || (sealed->encrypted_secret.size() == 2 + 256 && sealed->id_object.size() == 2 + 34 + 34));
      break;
    }
    default: {
      auto check = mrv::evidence::check_tpm_statement(rest, "not a key", "", 1767225600);
      MRV_FUZZ_CHECK(check.claim != mrv::evidence::TpmClaim::verified);  // no CA: never verified
      break;
    }
  }
  return 0;
}
