// TPM2_MakeCredential in software (docs/verification.md §8.5) on swtpm's EK certificates
// (tests/vectors/tpm/README.md): the layout tpm2_activatecredential reads, and what it
// refuses. That swtpm opens what it makes is tests/integration/tpm_test.py activate.
#include <catch2/catch.hpp>

#include "mrv/evidence/tpm_credential.hpp"
#include "tpm_vectors.hpp"

using namespace mrv::evidence;

namespace {

const std::string kAkName = std::string("\x00\x0b", 2) + std::string(32, '\x5a');
const std::string kCredential(kTpmCredentialBytes, 'c');

}  // namespace

TEST_CASE("tpm credential: sealed to an RSA 2048 EK in the layout tpm2-tools reads", "[tpm]") {
  auto sealed = make_tpm_credential(tpm_vector("ek-rsa.der"), kAkName, kCredential);
  REQUIRE(sealed);
  // TPM2B_ID_OBJECT: size 68, then the HMAC (TPM2B, 32) and the credential (TPM2B, 32) encrypted.
  CHECK(sealed->id_object.size() == 2 + 2 + 32 + 2 + 32);
  CHECK(sealed->id_object.substr(0, 4) == std::string("\x00\x44\x00\x20", 4));
  // TPM2B_ENCRYPTED_SECRET: the seed under RSA-OAEP, 256 bytes.
  CHECK(sealed->encrypted_secret.substr(0, 2) == std::string("\x01\x00", 2));
  CHECK(sealed->encrypted_secret.size() == 2 + 256);
  const std::string file = sealed->tpm2_tools_file();
  CHECK(file.substr(0, 8) == std::string("\xba\xdc\xc0\xde\x00\x00\x00\x01", 8));
  CHECK(file.size() == 8 + sealed->id_object.size() + sealed->encrypted_secret.size());
  // A fresh seed every time: two challenges for one credential differ.
  auto again = make_tpm_credential(tpm_vector("ek-rsa.der"), kAkName, kCredential);
  REQUIRE(again);
  CHECK(again->encrypted_secret != sealed->encrypted_secret);
  CHECK(again->id_object != sealed->id_object);
}

TEST_CASE("tpm credential: refuses an ECC EK, a name that is not SHA-256, a bad credential or certificate",
          "[tpm]") {
  auto ecc = make_tpm_credential(tpm_vector("ek.der"), kAkName, kCredential);
  REQUIRE_FALSE(ecc);
  CHECK(ecc.error().message.find("not RSA 2048") != std::string::npos);
  CHECK(ecc.error().message.find("EC") != std::string::npos);
  const std::string rsa = tpm_vector("ek-rsa.der");
  CHECK_FALSE(make_tpm_credential(rsa, kAkName.substr(0, 33), kCredential));
  CHECK_FALSE(make_tpm_credential(rsa, std::string("\x00\x04", 2) + std::string(32, 'x'), kCredential));
  CHECK_FALSE(make_tpm_credential(rsa, kAkName, ""));
  CHECK_FALSE(make_tpm_credential(rsa, kAkName, std::string(65, 'c')));
  CHECK(make_tpm_credential(rsa, kAkName, std::string(64, 'c')));
  CHECK_FALSE(make_tpm_credential(rsa.substr(0, rsa.size() - 1), kAkName, kCredential));
  CHECK_FALSE(make_tpm_credential("", kAkName, kCredential));
}
