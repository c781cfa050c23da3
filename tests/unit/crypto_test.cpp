#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace mrv;

TEST_CASE("crypto: both profiles sign and verify, and reject a changed message", "[crypto]") {
  for (Algorithm alg : {Algorithm::ed25519, Algorithm::ecdsa_p256_sha256}) {
    INFO(to_string(alg));
    auto signer = Signer::generate(alg);
    REQUIRE(signer);
    auto key = PublicKey::from_pem(signer->public_pem());
    REQUIRE(key);
    CHECK(key->key_id_hex() == signer->key_id_hex());
    CHECK(key->algorithm() == alg);
    auto sig = signer->sign("record bytes");
    REQUIRE(sig);
    CHECK(sig->size() == (alg == Algorithm::ed25519 ? 64u : sig->size()));
    CHECK(key->verify("record bytes", *sig));
    CHECK_FALSE(key->verify("record bytez", *sig));
    auto other = Signer::generate(alg);
    auto other_key = PublicKey::from_pem(other->public_pem());
    CHECK_FALSE(other_key->verify("record bytes", *sig));
  }
}

TEST_CASE("crypto: a reused verifier keeps verifying after a bad signature", "[crypto]") {
  for (Algorithm alg : {Algorithm::ed25519, Algorithm::ecdsa_p256_sha256}) {
    INFO(to_string(alg));
    auto signer = Signer::generate(alg);
    REQUIRE(signer);
    auto key = PublicKey::from_pem(signer->public_pem());
    REQUIRE(key);
    SignatureVerifier verifier(*key);
    for (int i = 0; i < 20; ++i) {
      std::string message = "record " + std::to_string(i);
      auto sig = signer->sign(message);
      REQUIRE(sig);
      CHECK(verifier.verify(message, *sig));
      CHECK(verifier.verify(message, *sig, sha256(message)));
      CHECK_FALSE(verifier.verify(message + "x", *sig));
      if (alg != Algorithm::ed25519) CHECK_FALSE(verifier.verify(message, *sig, sha256(message + "x")));
      std::string bad = *sig;
      bad[bad.size() / 2] ^= 1;
      CHECK_FALSE(verifier.verify(message, bad));
      CHECK_FALSE(verifier.verify(message, ""));
    }
  }
}

// OpenSSL 3.0 (Debian 12's 3.0.19) re-initialised with another Ed25519 key keeps the
// first one, for signing and for checking: each verifier and signer must own its context.
TEST_CASE("crypto: verifiers of two keys used in turn each accept only their own key's signatures", "[crypto]") {
  for (Algorithm alg : {Algorithm::ed25519, Algorithm::ecdsa_p256_sha256}) {
    INFO(to_string(alg));
    auto a = Signer::generate(alg), b = Signer::generate(alg);
    REQUIRE((a && b));
    auto a_key = PublicKey::from_pem(a->public_pem()), b_key = PublicKey::from_pem(b->public_pem());
    REQUIRE((a_key && b_key));
    SignatureVerifier by_a(*a_key), by_b(*b_key);
    for (int i = 0; i < 4; ++i) {
      std::string message = "record " + std::to_string(i);
      auto from_a = a->sign(message), from_b = b->sign(message);
      REQUIRE((from_a && from_b));
      CHECK(by_a.verify(message, *from_a));
      CHECK_FALSE(by_a.verify(message, *from_b));
      CHECK(by_b.verify(message, *from_b));
      CHECK_FALSE(by_b.verify(message, *from_a));
      CHECK(a_key->verify(message, *from_a));
      CHECK_FALSE(a_key->verify(message, *from_b));
    }
  }
}

TEST_CASE("crypto: a saved key is mode 0600, loads back, and is never overwritten", "[crypto]") {
  test::TempDir dir;
  auto signer = Signer::generate(Algorithm::ecdsa_p256_sha256);
  REQUIRE(signer->save(dir / "k.key"));
  struct stat st {};
  REQUIRE(::stat((dir / "k.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto again = signer->save(dir / "k.key");
  REQUIRE_FALSE(again);
  CHECK(again.error().message.find("refusing to overwrite") != std::string::npos);
  auto loaded = Signer::load(dir / "k.key");
  REQUIRE(loaded);
  CHECK(loaded->key_id_hex() == signer->key_id_hex());
}

TEST_CASE("crypto: a key file group or others can read is refused, naming the file", "[crypto]") {
  test::TempDir dir;
  auto signer = Signer::generate(Algorithm::ed25519);
  REQUIRE(signer->save(dir / "k.key"));
  ::chmod((dir / "k.key").c_str(), 0640);
  auto loaded = Signer::load(dir / "k.key");
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().where == (dir / "k.key").string());
  CHECK(loaded.error().message.find("readable by group or others") != std::string::npos);
}

TEST_CASE("crypto: a file that is not a private key is refused without quoting it", "[crypto]") {
  test::TempDir dir;
  test::write_text(dir / "k.key", "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
  auto loaded = Signer::load(dir / "k.key");
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().to_string().find("c2VjcmV0") == std::string::npos);
}

TEST_CASE("crypto: hex and base64 round-trip and reject garbage", "[crypto]") {
  std::string bytes("\x00\x01\xfe\xff", 4);
  CHECK(*from_hex(to_hex(bytes)) == bytes);
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("zz"));
  for (std::string s : {"", "a", "ab", "abc", "abcd"}) CHECK(*from_base64(to_base64(s)) == s);
  CHECK_FALSE(from_base64("abc"));
}
