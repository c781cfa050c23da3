#include "mrv/evidence/tpm_statement.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "mrv/core/crypto.hpp"

namespace mrv::evidence {
namespace {

using json = nlohmann::json;

// Big-endian reader over bytes from outside: every read is bounds-checked, and a failed
// read leaves the reader failed (the parse then fails as a whole).
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool ok() const { return ok_; }
  bool at_end() const { return ok_ && pos_ == b_.size(); }
  uint64_t uint(size_t n) {
    if (!ok_ || b_.size() - pos_ < n) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(b_[pos_++]);
    return v;
  }
  std::string bytes(size_t n) {
    if (!ok_ || b_.size() - pos_ < n) {
      ok_ = false;
      return {};
    }
    std::string out(b_.substr(pos_, n));
    pos_ += n;
    return out;
  }
  std::string tpm2b(size_t max) {  // a TPM2B: 16-bit size, then that many bytes (at most max)
    size_t n = uint(2);
    if (n > max) ok_ = false;
    return bytes(n);
  }
  size_t pos() const { return pos_; }
  std::string_view span(size_t from, size_t to) const { return b_.substr(from, to - from); }

 private:
  std::string_view b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

constexpr uint16_t kAlgEcc = 0x0023, kAlgSha256 = 0x000b, kAlgNull = 0x0010, kAlgEcdsa = 0x0018,
                   kCurveNistP256 = 0x0003;
constexpr uint32_t kTpmGeneratedValue = 0xff544347;
constexpr uint16_t kStAttestCertify = 0x8017, kStAttestNv = 0x8014;
constexpr size_t kMaxNameBytes = 2 + 64;  // TPM2B_NAME: a handle or an algorithm id and its digest

Error bad(std::string message) { return Error{ErrorCode::corruption, "tpm", std::move(message)}; }

struct X509Deleter { void operator()(X509* p) const { X509_free(p); } };
struct StoreDeleter { void operator()(X509_STORE* p) const { X509_STORE_free(p); } };
struct StoreCtxDeleter { void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); } };
struct StackDeleter { void operator()(STACK_OF(X509)* p) const { sk_X509_pop_free(p, X509_free); } };
struct PkeyDeleter { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct PkeyCtxDeleter { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

// A certificate's name as RFC 4514 writes it ("CN=…,O=…", most specific first), as
// Python's rfc4514_string() does in docs/verify_bundle.py; UTF-8 kept, not escaped.
std::string subject_of(X509* cert, bool issuer) {
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), &BIO_free);
  if (!out) return "?";
  X509_NAME_print_ex(out.get(), issuer ? X509_get_issuer_name(cert) : X509_get_subject_name(cert), 0,
                     XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  long size = BIO_get_mem_data(out.get(), &data);
  return size > 0 ? std::string(data, static_cast<size_t>(std::min<long>(size, 512))) : std::string();
}

// The EK certificate must chain, by signatures checked, to a self-signed certificate of
// the CA bundle (its other certificates serve as intermediates) and be valid at now_s.
Result<std::string> check_ek_chain(std::string_view ek_der, std::string_view ca_pem, int64_t now_s) {
  auto p = reinterpret_cast<const unsigned char*>(ek_der.data());
  X509Ptr ek(d2i_X509(nullptr, &p, static_cast<long>(ek_der.size())));
  if (!ek || p != reinterpret_cast<const unsigned char*>(ek_der.data()) + ek_der.size())
    return tl::unexpected(bad("ek_certificate is not one DER certificate"));
  // An EK certificate is an end entity: a CA certificate of the bundle is not one.
  if (X509_get_extension_flags(ek.get()) & EXFLAG_CA)
    return tl::unexpected(bad("ek_certificate is a CA certificate, not an EK certificate"));
  std::unique_ptr<X509_STORE, StoreDeleter> store(X509_STORE_new());
  std::unique_ptr<STACK_OF(X509), StackDeleter> untrusted(sk_X509_new_null());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())),
                                                &BIO_free);
  int roots = 0;
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    if (X509_check_issued(c, c) == X509_V_OK) {
      X509_STORE_add_cert(store.get(), c);
      X509_free(c);
      ++roots;
    } else {
      sk_X509_push(untrusted.get(), c);
    }
  }
  ERR_clear_error();
  if (roots == 0) return tl::unexpected(bad("the TPM CA bundle holds no self-signed (root) certificate"));
  std::unique_ptr<X509_STORE_CTX, StoreCtxDeleter> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), ek.get(), untrusted.get());
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(now_s));
  // EK certificates name the TPM in a critical subjectAltName of TCG attributes that
  // OpenSSL does not parse as a name it checks; the chain's signatures and validity are
  // what matter here.
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_IGNORE_CRITICAL);
  if (X509_verify_cert(ctx.get()) != 1) {
    std::string why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    ERR_clear_error();
    return tl::unexpected(bad("the EK certificate (issuer " + subject_of(ek.get(), true) +
                              ") does not chain to the TPM CA bundle: " + why));
  }
  return "EK certificate " + subject_of(ek.get(), false) + " issued by " + subject_of(ek.get(), true);
}

PkeyPtr p256_key(const std::string& point) {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("group", const_cast<char*>("P-256"), 0),
      OSSL_PARAM_construct_octet_string("pub", const_cast<char*>(point.data()), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return PkeyPtr(key);
}

Result<std::string> member_bytes(const json& j, const char* name, size_t max) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return tl::unexpected(bad(std::string("no ") + name));
  const std::string& text = it->get_ref<const std::string&>();
  if (text.size() > (max + 2) / 3 * 4) return tl::unexpected(bad(std::string(name) + " is too long"));
  auto bytes = from_base64(text);
  if (!bytes) return tl::unexpected(bad(std::string(name) + " is not base64"));
  if (bytes->size() > max) return tl::unexpected(bad(std::string(name) + " is too long"));
  return *bytes;
}

}  // namespace

std::string TpmEccPublic::name() const {
  Sha256 d = sha256(tpmt_public);
  return std::string("\x00\x0b", 2) + std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

Result<TpmEccPublic> parse_tpm2b_public(std::string_view bytes) {
  if (bytes.size() > kMaxTpmPublic) return tl::unexpected(bad("TPM2B_PUBLIC longer than 1024 bytes"));
  Reader r(bytes);
  size_t size = r.uint(2);
  if (!r.ok() || size != bytes.size() - 2) return tl::unexpected(bad("TPM2B_PUBLIC size does not match"));
  const size_t start = r.pos();
  TpmEccPublic out;
  if (r.uint(2) != kAlgEcc) return tl::unexpected(bad("not an ECC key"));
  if (r.uint(2) != kAlgSha256) return tl::unexpected(bad("nameAlg is not SHA-256"));
  out.attributes = static_cast<uint32_t>(r.uint(4));
  r.tpm2b(64);                                  // authPolicy
  uint64_t sym = r.uint(2);                     // TPMT_SYM_DEF_OBJECT
  if (sym != kAlgNull) r.uint(4);               // keyBits, mode (a storage key's; we refuse it below)
  uint64_t scheme = r.uint(2);                  // TPMT_ECC_SCHEME
  if (scheme != kAlgNull && scheme != kAlgEcdsa) return tl::unexpected(bad("scheme is neither NULL nor ECDSA"));
  if (scheme == kAlgEcdsa && r.uint(2) != kAlgSha256) return tl::unexpected(bad("ECDSA scheme hash is not SHA-256"));
  if (r.uint(2) != kCurveNistP256) return tl::unexpected(bad("curve is not NIST P-256"));
  if (r.uint(2) != kAlgNull) return tl::unexpected(bad("kdf is not NULL"));
  std::string x = r.tpm2b(32), y = r.tpm2b(32);
  if (!r.at_end()) return tl::unexpected(bad("TPM2B_PUBLIC truncated or with bytes after it"));
  if (sym != kAlgNull) return tl::unexpected(bad("a storage key (symmetric algorithm set), not a signing key"));
  if (x.size() != 32 || y.size() != 32) return tl::unexpected(bad("the point is not 32 + 32 bytes"));
  out.point = "\x04" + x + y;
  out.tpmt_public = std::string(r.span(start, bytes.size()));
  return out;
}

Result<TpmCertifyInfo> parse_tpms_attest_certify(std::string_view bytes) {
  if (bytes.size() > kMaxTpmAttest) return tl::unexpected(bad("TPMS_ATTEST longer than 1024 bytes"));
  Reader r(bytes);
  if (r.uint(4) != kTpmGeneratedValue) return tl::unexpected(bad("TPMS_ATTEST magic is not TPM_GENERATED_VALUE"));
  if (r.uint(2) != kStAttestCertify) return tl::unexpected(bad("TPMS_ATTEST is not of TPM2_Certify"));
  TpmCertifyInfo out;
  out.qualified_signer = r.tpm2b(kMaxNameBytes);
  out.extra_data = r.tpm2b(64);
  out.clock = r.uint(8);
  out.reset_count = static_cast<uint32_t>(r.uint(4));
  out.restart_count = static_cast<uint32_t>(r.uint(4));
  uint64_t safe = r.uint(1);
  out.firmware_version = r.uint(8);
  out.name = r.tpm2b(kMaxNameBytes);
  out.qualified_name = r.tpm2b(kMaxNameBytes);
  if (!r.at_end()) return tl::unexpected(bad("TPMS_ATTEST truncated or with bytes after it"));
  if (safe > 1) return tl::unexpected(bad("TPMS_CLOCK_INFO safe is not a boolean"));
  out.safe = safe == 1;
  return out;
}

Result<TpmNvCertifyInfo> parse_tpms_attest_nv(std::string_view bytes) {
  if (bytes.size() > kMaxTpmAttest) return tl::unexpected(bad("TPMS_ATTEST longer than 1024 bytes"));
  Reader r(bytes);
  if (r.uint(4) != kTpmGeneratedValue) return tl::unexpected(bad("TPMS_ATTEST magic is not TPM_GENERATED_VALUE"));
  if (r.uint(2) != kStAttestNv) return tl::unexpected(bad("TPMS_ATTEST is not of TPM2_NV_Certify"));
  TpmNvCertifyInfo out;
  r.tpm2b(kMaxNameBytes);                                  // qualifiedSigner
  out.extra_data = r.tpm2b(64);
  r.bytes(8 + 4 + 4 + 1 + 8);                              // clockInfo, firmwareVersion
  out.index_name = r.tpm2b(kMaxNameBytes);
  out.offset = r.uint(2);
  out.contents = r.tpm2b(kMaxTpmAttest);
  if (!r.at_end()) return tl::unexpected(bad("TPMS_ATTEST truncated or with bytes after it"));
  return out;
}

Result<TpmNvPublic> parse_tpms_nv_public(std::string_view bytes) {
  Reader r(bytes);
  TpmNvPublic out;
  out.index = static_cast<uint32_t>(r.uint(4));
  if (r.uint(2) != kAlgSha256) return tl::unexpected(bad("the NV index's nameAlg is not SHA-256"));
  out.attributes = static_cast<uint32_t>(r.uint(4));
  std::string policy = r.tpm2b(64);
  out.data_size = r.uint(2);
  if (!r.at_end()) return tl::unexpected(bad("TPMS_NV_PUBLIC truncated or with bytes after it"));
  if (!policy.empty()) return tl::unexpected(bad("the NV index has an authPolicy"));
  Sha256 d = sha256(bytes);
  out.name = std::string("\x00\x0b", 2) + std::string(reinterpret_cast<const char*>(d.data()), d.size());
  return out;
}

bool ak_signed(std::string_view ak_public, std::string_view info, std::string_view signature) {
  auto ak = parse_tpm2b_public(ak_public);
  const uint32_t wanted = kTpmaFixedTpm | kTpmaFixedParent | kTpmaSensitiveDataOrigin | kTpmaSign | kTpmaRestricted;
  if (!ak || (ak->attributes & wanted) != wanted) return false;
  PkeyPtr key = p256_key(ak->point);
  if (!key) return false;
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  Sha256 digest = sha256(info);
  bool ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
            EVP_PKEY_verify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                            digest.data(), digest.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string_view to_string(TpmClaim c) {
  switch (c) {
    case TpmClaim::verified: return "verified";
    case TpmClaim::not_claimed: return "not claimed";
    case TpmClaim::unverifiable: return "claimed but unverifiable";
  }
  return "claimed but unverifiable";
}

TpmCheck check_tpm_statement(std::string_view statement_json, std::string_view spki_der,
                             std::string_view tpm_ca_pem, int64_t now_s) {
  if (statement_json.empty()) return {TpmClaim::not_claimed, ""};
  auto unverifiable = [](std::string why) { return TpmCheck{TpmClaim::unverifiable, std::move(why)}; };
  if (statement_json.size() > kMaxTpmStatementJson) return unverifiable("the statement is longer than 16 KiB");
  json j = json::parse(statement_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return unverifiable("the statement is not a JSON object");
  if (!j.contains("format") || j["format"] != "mrv-tpm-key/1") return unverifiable("format is not mrv-tpm-key/1");
  auto ek = member_bytes(j, "ek_certificate", kMaxEkCertificate);
  auto ak = member_bytes(j, "ak_public", kMaxTpmPublic);
  auto key = member_bytes(j, "key_public", kMaxTpmPublic);
  auto info = member_bytes(j, "certify_info", kMaxTpmAttest);
  auto sig = member_bytes(j, "certify_signature", kMaxTpmSignature);
  for (const auto* part : {&ek, &ak, &key, &info, &sig})
    if (!*part) return unverifiable(part->error().message);

  // 1. The key: a TPM-made signing key that never leaves it, and the key of keys.json.
  auto key_public = parse_tpm2b_public(*key);
  if (!key_public) return unverifiable("key_public: " + key_public.error().message);
  const uint32_t resident = kTpmaFixedTpm | kTpmaFixedParent | kTpmaSensitiveDataOrigin;
  if ((key_public->attributes & (resident | kTpmaSign)) != (resident | kTpmaSign))
    return unverifiable("key_public lacks fixedTPM, fixedParent, sensitiveDataOrigin or sign");
  PkeyPtr signing = p256_key(key_public->point);
  if (!signing) return unverifiable("key_public's point is not on P-256");
  unsigned char* der = nullptr;
  int der_len = i2d_PUBKEY(signing.get(), &der);
  std::string key_spki = der_len > 0 ? std::string(reinterpret_cast<char*>(der), static_cast<size_t>(der_len)) : "";
  OPENSSL_free(der);
  if (key_spki != spki_der) return unverifiable("the attested key is not this signing key");

  // 2. The attestation key: a restricted signing key, fixed to its TPM.
  auto ak_public = parse_tpm2b_public(*ak);
  if (!ak_public) return unverifiable("ak_public: " + ak_public.error().message);
  if ((ak_public->attributes & (resident | kTpmaSign | kTpmaRestricted)) != (resident | kTpmaSign | kTpmaRestricted))
    return unverifiable("ak_public is not a restricted signing key with fixedTPM, fixedParent, sensitiveDataOrigin");
  PkeyPtr ak_key = p256_key(ak_public->point);
  if (!ak_key) return unverifiable("ak_public's point is not on P-256");

  // 3. The attestation: TPM2_Certify of exactly this key, signed by the AK.
  auto certify = parse_tpms_attest_certify(*info);
  if (!certify) return unverifiable("certify_info: " + certify.error().message);
  if (certify->name != key_public->name()) return unverifiable("certify_info certifies another key (its name differs)");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter> vctx(EVP_PKEY_CTX_new(ak_key.get(), nullptr));
  Sha256 digest = sha256(*info);
  bool sig_ok = vctx && EVP_PKEY_verify_init(vctx.get()) == 1 &&
                EVP_PKEY_verify(vctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                                digest.data(), digest.size()) == 1;
  ERR_clear_error();
  if (!sig_ok) return unverifiable("certify_signature does not verify with ak_public");

  // 4. The TPM: its EK certificate chains to a manufacturer's CA.
  if (tpm_ca_pem.empty()) return unverifiable("no TPM manufacturer CA bundle given (--tpm-ca)");
  auto chain = check_ek_chain(*ek, tpm_ca_pem, now_s);
  if (!chain) return unverifiable(chain.error().message);
  return {TpmClaim::verified, *chain};
}

Result<TpmStatementParts> tpm_statement_parts(std::string_view statement_json) {
  if (statement_json.size() > kMaxTpmStatementJson) return tl::unexpected(bad("the statement is longer than 16 KiB"));
  json j = json::parse(statement_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return tl::unexpected(bad("the statement is not a JSON object"));
  auto ek = member_bytes(j, "ek_certificate", kMaxEkCertificate);
  if (!ek) return tl::unexpected(ek.error());
  auto ak = member_bytes(j, "ak_public", kMaxTpmPublic);
  if (!ak) return tl::unexpected(ak.error());
  auto ak_public = parse_tpm2b_public(*ak);
  if (!ak_public) return tl::unexpected(ak_public.error());
  return TpmStatementParts{std::move(*ek), ak_public->name(), std::move(*ak)};
}

}  // namespace mrv::evidence
