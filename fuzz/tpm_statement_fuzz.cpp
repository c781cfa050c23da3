// The TPM key statement of keys.json (docs/verification.md §8): its TPMS_ATTEST and
// TPM2B_PUBLIC parsers, the whole check over a statement's JSON, the registry's
// MakeCredential on its EK certificate, and the starts of tpm_starts.json (§8.4). The
// first byte chooses: 0 the attestation, 1 a public area, 2 an EK certificate (DER) to
// seal a credential to, 3 an NV attestation, 4 an NV public area, 5 an AK's public area
// (2-byte size, then the bytes) and tpm_starts.json whose key 00…0 it is; else the input
// is the statement's JSON.
#include "fuzz_support.hpp"
#include "mrv/evidence/tpm_credential.hpp"
#include "mrv/evidence/tpm_starts.hpp"
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
    case 3: {
      auto info = mrv::evidence::parse_tpms_attest_nv(rest);
      MRV_FUZZ_CHECK(!info || (rest.size() <= mrv::evidence::kMaxTpmAttest && info->index_name.size() <= 66));
      break;
    }
    case 4: {
      auto pub = mrv::evidence::parse_tpms_nv_public(rest);
      MRV_FUZZ_CHECK(!pub || pub->name.size() == 34);
      break;
    }
    case 5: {
      if (rest.size() < 2) break;
      size_t n = (static_cast<uint8_t>(rest[0]) << 8) | static_cast<uint8_t>(rest[1]);
      if (rest.size() - 2 < n) break;
      std::map<std::string, mrv::evidence::TpmStartKey> keys{{std::string(64, '0'), {std::string(rest.substr(2, n)), "ek"}}};
      auto check = mrv::evidence::check_tpm_starts(rest.substr(2 + n), keys);
      if (check.problem.empty()) {  // verified: values increase, one head each, within the limit
        MRV_FUZZ_CHECK(!check.counters.empty() && check.counters.size() == check.heads.size() &&
                       check.counters.size() <= mrv::evidence::kMaxTpmStarts);
        for (size_t i = 1; i < check.counters.size(); ++i) MRV_FUZZ_CHECK(check.counters[i] > check.counters[i - 1]);
      }
      MRV_FUZZ_CHECK(!check.describe().empty());
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
