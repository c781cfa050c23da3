#include "mrv/evidence/tpm_credential.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <memory>

namespace mrv::evidence {
namespace {

Error bad(std::string message) {
  ERR_clear_error();
  return Error{ErrorCode::crypto, "tpm credential", std::move(message)};
}

std::string u16(size_t n) { return {static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)}; }
std::string u32(uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 8) & 0xff),
          static_cast<char>(n & 0xff)};
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// KDFa (Part 1 §11.4.10.2): SP 800-108 counter mode with HMAC-SHA-256; the label is
// taken with its terminating NUL.
std::string kdfa(std::string_view key, std::string_view label, std::string_view context_u, size_t bits) {
  std::string out;
  for (uint32_t i = 1; out.size() * 8 < bits; ++i)
    out += hmac_sha256(key, u32(i) + std::string(label) + '\0' + std::string(context_u) + u32(static_cast<uint32_t>(bits)));
  out.resize(bits / 8);
  return out;
}

struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
struct CipherCtxFree { void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); } };
struct X509Free { void operator()(X509* p) const { X509_free(p); } };

}  // namespace

std::string TpmCredentialChallenge::tpm2_tools_file() const {
  return u32(0xBADCC0DE) + u32(1) + id_object + encrypted_secret;
}

Result<TpmCredentialChallenge> make_tpm_credential(std::string_view ek_certificate_der, std::string_view ak_name,
                                                   std::string_view credential) {
  if (credential.empty() || credential.size() > 64) return tl::unexpected(bad("the credential must be 1 to 64 bytes"));
  if (ak_name.size() != 34 || ak_name.substr(0, 2) != std::string_view("\x00\x0b", 2))
    return tl::unexpected(bad("the AK's name is not a SHA-256 name"));
  auto p = reinterpret_cast<const unsigned char*>(ek_certificate_der.data());
  std::unique_ptr<X509, X509Free> cert(d2i_X509(nullptr, &p, static_cast<long>(ek_certificate_der.size())));
  if (!cert) return tl::unexpected(bad("ek_certificate is not a DER certificate"));
  EVP_PKEY* ek = X509_get0_pubkey(cert.get());
  if (!ek || EVP_PKEY_get_base_id(ek) != EVP_PKEY_RSA || EVP_PKEY_get_bits(ek) != 2048) {
    const char* type = ek ? EVP_PKEY_get0_type_name(ek) : nullptr;
    return tl::unexpected(bad(std::string("the EK is ") + (type ? type : "unreadable") +
                              ", not RSA 2048: activation takes the RSA EK (NV index 0x01c00002)"));
  }

  // The seed, as large as the EK's nameAlg digest, sealed to the EK with RSA-OAEP
  // (SHA-256, label "IDENTITY" with its NUL).
  unsigned char seed[32];
  if (RAND_bytes(seed, sizeof seed) != 1) return tl::unexpected(bad("no random bytes"));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
  unsigned char* label = static_cast<unsigned char*>(OPENSSL_memdup("IDENTITY", 9));
  if (!ctx || !label || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label, 9) != 1) {
    OPENSSL_free(label);
    return tl::unexpected(bad("cannot set up RSA-OAEP"));
  }
  size_t secret_len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &secret_len, seed, sizeof seed) != 1)
    return tl::unexpected(bad("RSA-OAEP failed"));
  std::string secret(secret_len, '\0');
  if (EVP_PKEY_encrypt(ctx.get(), reinterpret_cast<unsigned char*>(secret.data()), &secret_len, seed, sizeof seed) != 1)
    return tl::unexpected(bad("RSA-OAEP failed"));
  secret.resize(secret_len);

  // The credential as a TPM2B_DIGEST, encrypted with AES-128-CFB (zero IV) under a key
  // bound to the AK's name, then an HMAC over it and the name (Part 1 §24.4, §24.5).
  const std::string seed_bytes(reinterpret_cast<char*>(seed), sizeof seed);
  const std::string sym_key = kdfa(seed_bytes, "STORAGE", ak_name, 128);
  const std::string hmac_key = kdfa(seed_bytes, "INTEGRITY", "", 256);
  const std::string plain = u16(credential.size()) + std::string(credential);
  std::string enc(plain.size(), '\0');
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> cipher(EVP_CIPHER_CTX_new());
  const unsigned char iv[16] = {};
  int out_len = 0, final_len = 0;
  if (!cipher ||
      EVP_EncryptInit_ex(cipher.get(), EVP_aes_128_cfb(), nullptr,
                         reinterpret_cast<const unsigned char*>(sym_key.data()), iv) != 1 ||
      EVP_EncryptUpdate(cipher.get(), reinterpret_cast<unsigned char*>(enc.data()), &out_len,
                        reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(cipher.get(), reinterpret_cast<unsigned char*>(enc.data()) + out_len, &final_len) != 1)
    return tl::unexpected(bad("AES-128-CFB failed"));
  const std::string integrity = hmac_sha256(hmac_key, enc + std::string(ak_name));
  const std::string id = u16(integrity.size()) + integrity + enc;

  TpmCredentialChallenge out;
  out.id_object = u16(id.size()) + id;
  out.encrypted_secret = u16(secret.size()) + secret;
  return out;
}

}  // namespace mrv::evidence
