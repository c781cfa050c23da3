// The TPM key statement of keys.json (docs/verification.md §8): its TPMS_ATTEST and
// TPM2B_PUBLIC parsers, and the whole check over a statement's JSON. The first byte
// chooses: 0 the attestation, 1 a public area, else the input is the statement's JSON.
#include "fuzz_support.hpp"
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
    default: {
      auto check = mrv::evidence::check_tpm_statement(rest, "not a key", "", 1767225600);
      MRV_FUZZ_CHECK(check.claim != mrv::evidence::TpmClaim::verified);  // no CA: never verified
      break;
    }
  }
  return 0;
}
