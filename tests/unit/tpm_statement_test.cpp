// The TPM key statement (docs/verification.md §8) on vectors made with swtpm
// (tests/vectors/tpm/README.md): the real one verifies; forged, truncated, padded and
// oversized ones, another CA and another key do not.
#include <catch2/catch.hpp>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "mrv/core/crypto.hpp"
#include "mrv/evidence/tpm_statement.hpp"
#include "tpm_vectors.hpp"

using namespace mrv;
using namespace mrv::evidence;

namespace {

struct Parts {
  std::string ek = tpm_vector("ek.der"), ak = tpm_vector("ak.pub"), key = tpm_vector("key.pub"),
              info = tpm_vector("attest.bin"), sig = tpm_vector("sig.bin");
  std::string json() const {
    return nlohmann::json{{"format", "mrv-tpm-key/1"},           {"ek_certificate", to_base64(ek)},
                          {"ak_public", to_base64(ak)},          {"key_public", to_base64(key)},
                          {"certify_info", to_base64(info)},     {"certify_signature", to_base64(sig)}}
        .dump();
  }
};

const int64_t kNow = 1893456000;  // 2030-01-01: the vectors' certificates are valid then

TpmCheck check(const Parts& p, const std::string& ca = tpm_vector("ca.pem")) {
  return check_tpm_statement(p.json(), tpm_vector("key_spki.der"), ca, kNow);
}

}  // namespace

TEST_CASE("tpm statement: the swtpm statement verifies against the test CA", "[tpm]") {
  TpmCheck c = check(Parts{});
  INFO(c.detail);
  CHECK(c.claim == TpmClaim::verified);
  CHECK(c.detail.find("swtpm-localca") != std::string::npos);
  CHECK(to_string(c.claim) == "verified");
}

TEST_CASE("tpm statement: no statement is not claimed, no CA bundle is unverifiable", "[tpm]") {
  CHECK(check_tpm_statement("", tpm_vector("key_spki.der"), tpm_vector("ca.pem"), kNow).claim == TpmClaim::not_claimed);
  TpmCheck c = check(Parts{}, "");
  CHECK(c.claim == TpmClaim::unverifiable);
  CHECK(c.detail.find("--tpm-ca") != std::string::npos);
}

TEST_CASE("tpm statement: another manufacturer's CA does not verify the EK certificate", "[tpm]") {
  TpmCheck c = check(Parts{}, tpm_vector("other-ca.pem"));
  CHECK(c.claim == TpmClaim::unverifiable);
  CHECK(c.detail.find("does not chain") != std::string::npos);
  // Only the intermediate, no root: nothing to anchor the chain.
  std::string ca = tpm_vector("ca.pem");
  CHECK(check(Parts{}, ca.substr(ca.find("-----BEGIN", 10))).claim == TpmClaim::unverifiable);
}

TEST_CASE("tpm statement: a statement about another key is refused", "[tpm]") {
  Signer other = Signer::generate(Algorithm::ecdsa_p256_sha256).value();
  auto pub = PublicKey::from_pem(other.public_pem()).value();
  TpmCheck c = check_tpm_statement(Parts{}.json(), pub.spki_der(), tpm_vector("ca.pem"), kNow);
  CHECK(c.claim == TpmClaim::unverifiable);
  CHECK(c.detail == "the attested key is not this signing key");
  // The AK's public area as the key: the key matches nothing the TPM certified.
  Parts p;
  p.key = p.ak;
  CHECK(check(p).claim == TpmClaim::unverifiable);
}

TEST_CASE("tpm statement: forged attestations are refused", "[tpm]") {
  SECTION("a bit flipped anywhere in the attestation") {
    for (size_t i = 0; i < Parts{}.info.size(); ++i) {
      Parts p;
      p.info[i] = static_cast<char>(p.info[i] ^ 0x01);
      INFO("byte " << i);
      CHECK(check(p).claim == TpmClaim::unverifiable);
    }
  }
  SECTION("a re-signed attestation by a software key posing as the AK") {
    // The forger's own restricted-looking AK cannot be told from the TPM's by its bytes
    // alone, but its signature must verify over these exact bytes with ak_public.
    Parts p;
    Signer forger = Signer::generate(Algorithm::ecdsa_p256_sha256).value();
    p.sig = forger.sign(p.info).value();
    CHECK(check(p).claim == TpmClaim::unverifiable);
  }
  SECTION("the signature of another attestation") {
    Parts p;
    p.sig[p.sig.size() - 1] = static_cast<char>(p.sig.back() ^ 0x40);
    CHECK(check(p).claim == TpmClaim::unverifiable);
  }
  SECTION("a key without fixedTPM") {
    Parts p;
    p.key[9] = static_cast<char>(p.key[9] & ~0x02);  // TPMA_OBJECT's low byte: fixedTPM is bit 1
    TpmCheck c = check(p);
    CHECK(c.claim == TpmClaim::unverifiable);
    CHECK(c.detail.find("fixedTPM") != std::string::npos);
  }
}

TEST_CASE("tpm statement: the TPMS_ATTEST parser refuses truncated, padded, mistyped and oversized input", "[tpm]") {
  const std::string info = tpm_vector("attest.bin");
  auto ok = parse_tpms_attest_certify(info);
  REQUIRE(ok);
  CHECK(ok->name.size() == 34);
  for (size_t n = 0; n < info.size(); ++n) CHECK_FALSE(parse_tpms_attest_certify(info.substr(0, n)));
  CHECK_FALSE(parse_tpms_attest_certify(info + std::string(1, '\0')));
  std::string wrong_magic = info;
  wrong_magic[0] = 0;
  CHECK_FALSE(parse_tpms_attest_certify(wrong_magic));
  std::string quote = info;
  quote[5] = 0x18;  // TPM_ST_ATTEST_QUOTE
  CHECK_FALSE(parse_tpms_attest_certify(quote));
  std::string huge_name = info.substr(0, 6) + "\xff\xff";  // a qualifiedSigner of 65535 bytes
  CHECK_FALSE(parse_tpms_attest_certify(huge_name + std::string(70000, 'a')));
  auto over = parse_tpms_attest_certify(std::string(kMaxTpmAttest + 1, 'a'));
  REQUIRE_FALSE(over);
  CHECK(over.error().message == "TPMS_ATTEST longer than 1024 bytes");
  auto at = parse_tpms_attest_certify(std::string(kMaxTpmAttest, 'a'));  // read, then refused for its bytes
  REQUIRE_FALSE(at);
  CHECK(at.error().message != "TPMS_ATTEST longer than 1024 bytes");

  const std::string pub = tpm_vector("key.pub");
  REQUIRE(parse_tpm2b_public(pub));
  for (size_t n = 0; n < pub.size(); ++n) CHECK_FALSE(parse_tpm2b_public(pub.substr(0, n)));
  CHECK_FALSE(parse_tpm2b_public(pub + "x"));
  CHECK_FALSE(parse_tpm2b_public(std::string(kMaxTpmPublic + 1, 'a')));
}

TEST_CASE("tpm statement: oversized or malformed statements are unverifiable, not errors", "[tpm]") {
  const std::string spki = tpm_vector("key_spki.der"), ca = tpm_vector("ca.pem");
  CHECK(check_tpm_statement(std::string(kMaxTpmStatementJson + 1, ' '), spki, ca, kNow).detail ==
        "the statement is longer than 16 KiB");
  std::string padded = Parts{}.json();
  padded.insert(1, std::string(kMaxTpmStatementJson - padded.size(), ' '));  // 16 KiB exactly: read
  REQUIRE(padded.size() == kMaxTpmStatementJson);
  CHECK(check_tpm_statement(padded, spki, ca, kNow).claim == TpmClaim::verified);
  CHECK(check_tpm_statement("[1,2]", spki, ca, kNow).claim == TpmClaim::unverifiable);
  CHECK(check_tpm_statement("not an object", spki, ca, kNow).claim == TpmClaim::unverifiable);
  auto j = nlohmann::json::parse(Parts{}.json());
  j["certify_info"] = to_base64(std::string(kMaxTpmAttest + 1, 'a'));
  CHECK(check_tpm_statement(j.dump(), spki, ca, kNow).detail == "certify_info is too long");
  j = nlohmann::json::parse(Parts{}.json());
  j.erase("ak_public");
  CHECK(check_tpm_statement(j.dump(), spki, ca, kNow).detail == "no ak_public");
  j = nlohmann::json::parse(Parts{}.json());
  j["format"] = "mrv-tpm-key/2";
  CHECK(check_tpm_statement(j.dump(), spki, ca, kNow).claim == TpmClaim::unverifiable);
  for (const nlohmann::json& format : {nlohmann::json(1), nlohmann::json::array(), nlohmann::json()}) {
    j["format"] = format;  // not a string: unverifiable, never an exception
    CHECK(check_tpm_statement(j.dump(), spki, ca, kNow).detail == "format is not mrv-tpm-key/1");
  }
}

TEST_CASE("tpm statement: a CA certificate of the bundle is not an EK certificate", "[tpm]") {
  // The intermediate of ca.pem chains to the root, but it is a CA (basicConstraints CA:TRUE).
  const std::string ca = tpm_vector("ca.pem");
  std::string intermediate_der;
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(ca.data(), static_cast<int>(ca.size())), &BIO_free);
    while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      if (X509_check_issued(c, c) != X509_V_OK) {
        unsigned char* der = nullptr;
        int n = i2d_X509(c, &der);
        intermediate_der.assign(reinterpret_cast<char*>(der), static_cast<size_t>(n));
        OPENSSL_free(der);
      }
      X509_free(c);
    }
  }
  REQUIRE_FALSE(intermediate_der.empty());
  Parts p;
  p.ek = intermediate_der;
  TpmCheck c = check(p);
  CHECK(c.claim == TpmClaim::unverifiable);
  CHECK(c.detail == "ek_certificate is a CA certificate, not an EK certificate");
}
