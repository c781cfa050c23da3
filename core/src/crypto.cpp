#include "mrv/core/crypto.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace mrv {
namespace {

struct PkeyDeleter { void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); } };
struct MdCtxDeleter { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
struct PkeyCtxDeleter { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
struct BioDeleter { void operator()(BIO* p) const { BIO_free(p); } };
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Result<Algorithm> algorithm_of(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return Algorithm::ed25519;
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1 &&
        (std::strcmp(group, "prime256v1") == 0 || std::strcmp(group, "P-256") == 0))
      return Algorithm::ecdsa_p256_sha256;
    return fail(ErrorCode::crypto, "", std::string("unsupported EC curve ") + group);
  }
  return fail(ErrorCode::crypto, "", "unsupported key type (ed25519 or EC P-256 expected)");
}

std::string encode_spki_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string public_pem_of(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string read_file(const std::filesystem::path& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ---- TPM keys (docs/operations.md, "A key in the TPM") --------------------------------
// A TPM key lives in its own OpenSSL library context with Debian's tpm2-openssl provider
// ("tpm2") beside the default one, so the rest of the process never routes an operation
// to the TPM by accident. The provider reads its TCTI (how to reach the TPM) from
// TPM2OPENSSL_TCTI when it starts, so the first TPM key of a process fixes it.
constexpr std::string_view kTss2PemHeader = "-----BEGIN TSS2 PRIVATE KEY-----";

struct TpmContext {
  OSSL_LIB_CTX* libctx = nullptr;
  OSSL_PROVIDER* tpm2 = nullptr;  // each loaded provider holds a reference until unloaded
  OSSL_PROVIDER* default_provider = nullptr;
  std::string error;  // why the provider could not be loaded (empty: loaded)
};

std::mutex tpm_mutex;
TpmContext* tpm_ctx = nullptr;  // guarded by tpm_mutex

const TpmContext& tpm_context(const std::string& tcti) {
  std::lock_guard lock(tpm_mutex);
  if (tpm_ctx) return *tpm_ctx;
  tpm_ctx = new TpmContext;
  TpmContext& ctx = *tpm_ctx;
  if (!tcti.empty()) ::setenv("TPM2OPENSSL_TCTI", tcti.c_str(), 1);
  // The TSS logs its own errors to stderr, several lines each; ours say what failed in
  // one line. TSS2_LOG set by an operator (e.g. "all+debug") still wins.
  ::setenv("TSS2_LOG", "all+none", 0);
  ctx.libctx = OSSL_LIB_CTX_new();
  if (!ctx.libctx) {
    ctx.error = "cannot make an OpenSSL library context";
    return ctx;
  }
  // Loading "tpm2" initialises ESYS and connects to the TPM: a missing provider and an
  // unreachable TPM both fail here.
  if (!(ctx.tpm2 = OSSL_PROVIDER_load(ctx.libctx, "tpm2"))) {
    unsigned long e = ERR_peek_error();
    if (ERR_GET_LIB(e) == ERR_LIB_DSO)  // the module file is not there
      ctx.error = "OpenSSL's tpm2 provider is not installed (Debian package tpm2-openssl): " + openssl_error();
    else  // the provider is there; its ESYS could not reach a TPM
      ctx.error = "cannot reach the TPM" + std::string(tcti.empty() ? " (default TCTI)" : " at TCTI " + tcti) +
                  " through OpenSSL's tpm2 provider (no TPM, no access to /dev/tpmrm0, or swtpm not running): " +
                  openssl_error();
    return ctx;
  }
  if (!(ctx.default_provider = OSSL_PROVIDER_load(ctx.libctx, "default")))
    ctx.error = "cannot load OpenSSL's default provider";
  return ctx;
}

}  // namespace

void release_tpm() {
  std::lock_guard lock(tpm_mutex);
  if (!tpm_ctx) return;
  // Unloading tpm2 tears it down: ESYS finalises and closes its connection to the TPM.
  if (tpm_ctx->default_provider) OSSL_PROVIDER_unload(tpm_ctx->default_provider);
  if (tpm_ctx->tpm2) OSSL_PROVIDER_unload(tpm_ctx->tpm2);
  OSSL_LIB_CTX_free(tpm_ctx->libctx);
  delete tpm_ctx;
  tpm_ctx = nullptr;
}

bool is_tpm_key_file(const std::filesystem::path& key_file) {
  std::ifstream in(key_file, std::ios::binary);
  std::string head(kTss2PemHeader.size(), '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  return in && head == kTss2PemHeader;
}

Sha256 sha256(std::string_view bytes) {
  // Fetched once: an implicit fetch per call costs locks and a lookup (OpenSSL 3).
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  Sha256 out;
  EVP_Digest(bytes.data(), bytes.size(), out.data(), nullptr, kSha256, nullptr);
  return out;
}

struct Sha256Stream::Impl {
  MdCtxPtr ctx{EVP_MD_CTX_new()};
};
Sha256Stream::Sha256Stream() : impl_(std::make_unique<Impl>()) {
  EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr);
}
Sha256Stream::Sha256Stream(Sha256Stream&&) noexcept = default;
Sha256Stream& Sha256Stream::operator=(Sha256Stream&&) noexcept = default;
Sha256Stream::~Sha256Stream() = default;
void Sha256Stream::update(std::string_view bytes) {
  EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size());
}
Sha256 Sha256Stream::finish() {
  Sha256 out{};
  unsigned len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &len);
  EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr);
  return out;
}

std::string to_hex(const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(size * 2, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 0xF];
  }
  return out;
}

Result<std::string> from_hex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return fail(ErrorCode::invalid_argument, "", "odd-length hex");
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(ErrorCode::invalid_argument, "", "invalid hex digit");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

std::string to_base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return fail(ErrorCode::invalid_argument, "", "invalid base64 length");
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return fail(ErrorCode::invalid_argument, "", "invalid base64");
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() > 1 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string_view to_string(Algorithm a) {
  return a == Algorithm::ed25519 ? "ed25519" : "ecdsa-p256-sha256";
}

Result<Algorithm> parse_algorithm(std::string_view name) {
  if (name == "ed25519") return Algorithm::ed25519;
  if (name == "ecdsa-p256" || name == "ecdsa-p256-sha256") return Algorithm::ecdsa_p256_sha256;
  return fail(ErrorCode::invalid_argument, "", "unknown algorithm '" + std::string(name) +
                                                   "' (ed25519 or ecdsa-p256)");
}

// ---- PublicKey ---------------------------------------------------------------------

struct PublicKey::Impl {
  PkeyPtr key;
  Algorithm algorithm;
  std::string key_id_hex;
  std::string pem;
  std::string spki_der;
};

PublicKey::PublicKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PublicKey::PublicKey(PublicKey&&) noexcept = default;
PublicKey& PublicKey::operator=(PublicKey&&) noexcept = default;
PublicKey::~PublicKey() = default;

Result<PublicKey> PublicKey::from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(ErrorCode::crypto, "", "not a PEM public key: " + openssl_error());
  auto algorithm = algorithm_of(key.get());
  if (!algorithm) return tl::unexpected(algorithm.error());
  auto impl = std::make_unique<Impl>();
  impl->algorithm = *algorithm;
  impl->spki_der = encode_spki_der(key.get());
  impl->key_id_hex = to_hex(sha256(impl->spki_der));
  impl->pem = public_pem_of(key.get());
  impl->key = std::move(key);
  return PublicKey(std::move(impl));
}

Result<PublicKey> PublicKey::load(const std::filesystem::path& pem_file) {
  bool ok = false;
  std::string pem = read_file(pem_file, ok);
  if (!ok) return fail(ErrorCode::io, pem_file.string(), "cannot read public key file");
  auto key = from_pem(pem);
  if (!key) key.error().where = pem_file.string();
  return key;
}

Algorithm PublicKey::algorithm() const { return impl_->algorithm; }
const std::string& PublicKey::key_id_hex() const { return impl_->key_id_hex; }
const std::string& PublicKey::pem() const { return impl_->pem; }
const std::string& PublicKey::spki_der() const { return impl_->spki_der; }

bool PublicKey::verify(std::string_view message, std::string_view signature) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = impl_->algorithm == Algorithm::ed25519 ? nullptr : EVP_sha256();
  bool ok = EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, impl_->key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(),
                             reinterpret_cast<const unsigned char*>(message.data()),
                             message.size()) == 1;
  ERR_clear_error();
  return ok;
}

// Each verifier and signer makes a context of its own for its one key, never re-initialising
// one with another key: OpenSSL 3.0 (3.0.19) then goes on with the first Ed25519 key. Before
// each one-shot Ed25519 operation it re-initialises that context with no arguments, which
// keeps the key: OpenSSL 3.2 and later refuse a second one-shot on a context (it is marked
// finalised), and this re-initialisation costs under 0.1 µs.
struct SignatureVerifier::Impl {
  PkeyPtr key;  // this verifier's own copy: threads sharing one EVP_PKEY serialise
  Algorithm algorithm{};
  MdCtxPtr ed_ctx;       // ed25519: initialised once, reused for every one-shot verify
  PkeyCtxPtr ecdsa_ctx;  // ecdsa: EVP_PKEY_verify over a SHA-256 digest
  bool ready = false;
};

SignatureVerifier::SignatureVerifier(const PublicKey& key) : impl_(std::make_unique<Impl>()) {
  Impl& v = *impl_;
  v.algorithm = key.algorithm();
  BioPtr bio(BIO_new_mem_buf(key.pem().data(), static_cast<int>(key.pem().size())));
  v.key.reset(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!v.key) return;
  if (v.algorithm == Algorithm::ed25519) {
    v.ed_ctx.reset(EVP_MD_CTX_new());
    v.ready = v.ed_ctx && EVP_DigestVerifyInit(v.ed_ctx.get(), nullptr, nullptr, nullptr, v.key.get()) == 1;
  } else {
    v.ecdsa_ctx.reset(EVP_PKEY_CTX_new(v.key.get(), nullptr));
    v.ready = v.ecdsa_ctx && EVP_PKEY_verify_init(v.ecdsa_ctx.get()) == 1;
  }
  ERR_clear_error();
}
SignatureVerifier::SignatureVerifier(SignatureVerifier&&) noexcept = default;
SignatureVerifier& SignatureVerifier::operator=(SignatureVerifier&&) noexcept = default;
SignatureVerifier::~SignatureVerifier() = default;

bool SignatureVerifier::verify(std::string_view message, std::string_view signature) {
  return verify(message, signature, impl_->algorithm == Algorithm::ed25519 ? Sha256{} : sha256(message));
}

bool SignatureVerifier::verify(std::string_view message, std::string_view signature, const Sha256& message_sha256) {
  Impl& v = *impl_;
  if (!v.ready) return false;
  auto sig = reinterpret_cast<const unsigned char*>(signature.data());
  bool ok;
  if (v.algorithm == Algorithm::ed25519)
    ok = EVP_DigestVerifyInit(v.ed_ctx.get(), nullptr, nullptr, nullptr, nullptr) == 1 &&
         EVP_DigestVerify(v.ed_ctx.get(), sig, signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  else
    ok = EVP_PKEY_verify(v.ecdsa_ctx.get(), sig, signature.size(), message_sha256.data(), message_sha256.size()) == 1;
  ERR_clear_error();
  return ok;
}

// ---- Signer ------------------------------------------------------------------------

struct Signer::Impl {
  PkeyPtr key;
  Algorithm algorithm{};
  OSSL_LIB_CTX* libctx = nullptr;  // the TPM's context for a TPM key; null: the default
  bool in_tpm = false;
  std::string key_id_hex;
  std::string public_pem;
  MdCtxPtr ed_ctx;        // ed25519: initialised once, reused for every one-shot sign
  PkeyCtxPtr ecdsa_ctx;   // ecdsa: EVP_PKEY_sign over a SHA-256 digest

  // Derives everything else from `key` and prepares the reusable signing context.
  Result<void> adopt(PkeyPtr k) {
    auto alg = algorithm_of(k.get());
    if (!alg) return tl::unexpected(alg.error());
    key = std::move(k);
    algorithm = *alg;
    key_id_hex = to_hex(sha256(encode_spki_der(key.get())));
    public_pem = public_pem_of(key.get());
    bool ok;
    if (algorithm == Algorithm::ed25519) {
      ed_ctx.reset(EVP_MD_CTX_new());
      ok = ed_ctx && EVP_DigestSignInit(ed_ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1;
    } else {
      ecdsa_ctx.reset(EVP_PKEY_CTX_new_from_pkey(libctx, key.get(), nullptr));
      ok = ecdsa_ctx && EVP_PKEY_sign_init(ecdsa_ctx.get()) == 1;
    }
    if (!ok) return fail(ErrorCode::crypto, "", openssl_error());
    if (key_id_hex == to_hex(sha256(""))) return fail(ErrorCode::crypto, "", "cannot encode the public key");
    return {};
  }
};

Signer::Signer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Signer::Signer(Signer&&) noexcept = default;
Signer& Signer::operator=(Signer&&) noexcept = default;
Signer::~Signer() = default;

Result<Signer> Signer::load(const std::filesystem::path& key_file, const std::string& tpm_tcti) {
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0)
    return fail(ErrorCode::io, key_file.string(), std::string("cannot read key file: ") +
                                                      std::strerror(errno));
  if ((st.st_mode & 077) != 0)
    return fail(ErrorCode::crypto, key_file.string(),
                "private key file is readable by group or others (chmod 600 it)");
  if (is_tpm_key_file(key_file)) return load_tpm(key_file, tpm_tcti);
  bool ok = false;
  std::string pem = read_file(key_file, ok);
  if (!ok) return fail(ErrorCode::io, key_file.string(), "cannot read key file");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  OPENSSL_cleanse(pem.data(), pem.size());
  if (!key) {
    ERR_clear_error();  // say only what is wrong, never anything read from the file
    return fail(ErrorCode::crypto, key_file.string(), "not a PEM private key");
  }
  auto impl = std::make_unique<Impl>();
  if (auto r = impl->adopt(std::move(key)); !r) {
    r.error().where = key_file.string();
    return tl::unexpected(r.error());
  }
  return Signer(std::move(impl));
}

Result<Signer> Signer::generate(Algorithm algorithm) {
  PkeyPtr key(algorithm == Algorithm::ed25519
                  ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return fail(ErrorCode::crypto, "", "key generation failed: " + openssl_error());
  auto impl = std::make_unique<Impl>();
  if (auto r = impl->adopt(std::move(key)); !r) return tl::unexpected(r.error());
  return Signer(std::move(impl));
}

// A TSS2 private-key file holds the key wrapped by its TPM parent: only that TPM can use
// it. OSSL_STORE with the tpm2 provider loads it into the TPM and gives an EVP_PKEY whose
// operations the provider runs there.
Result<Signer> Signer::load_tpm(const std::filesystem::path& key_file, const std::string& tpm_tcti) {
  const TpmContext& tpm = tpm_context(tpm_tcti);
  if (!tpm.error.empty()) return fail(ErrorCode::crypto, key_file.string(), tpm.error);
  OSSL_STORE_CTX* store = OSSL_STORE_open_ex(key_file.c_str(), tpm.libctx, "?provider=tpm2", nullptr, nullptr,
                                             nullptr, nullptr, nullptr);
  if (!store) return fail(ErrorCode::crypto, key_file.string(), "cannot open the TPM key: " + openssl_error());
  PkeyPtr key;
  while (!key && !OSSL_STORE_eof(store)) {
    OSSL_STORE_INFO* info = OSSL_STORE_load(store);
    if (!info) break;
    if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY) key.reset(OSSL_STORE_INFO_get1_PKEY(info));
    OSSL_STORE_INFO_free(info);
  }
  OSSL_STORE_close(store);
  if (!key)
    return fail(ErrorCode::crypto, key_file.string(), "the TPM did not load the key (another TPM's key, or a "
                                                      "damaged file): " + openssl_error());
  ERR_clear_error();
  auto impl = std::make_unique<Impl>();
  impl->libctx = tpm.libctx;
  impl->in_tpm = true;
  if (auto r = impl->adopt(std::move(key)); !r) {
    r.error().where = key_file.string();
    return tl::unexpected(r.error());
  }
  if (impl->algorithm != Algorithm::ecdsa_p256_sha256)
    return fail(ErrorCode::crypto, key_file.string(), "a TPM key must be ECDSA P-256");
  return Signer(std::move(impl));
}

Result<Signer> Signer::generate_in_tpm(const std::string& tpm_tcti) {
  const TpmContext& tpm = tpm_context(tpm_tcti);
  if (!tpm.error.empty()) return fail(ErrorCode::crypto, "", tpm.error);
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(tpm.libctx, "EC", "provider=tpm2"));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
    return fail(ErrorCode::crypto, "", "TPM key generation failed: " + openssl_error());
  auto impl = std::make_unique<Impl>();
  impl->libctx = tpm.libctx;
  impl->in_tpm = true;
  if (auto r = impl->adopt(PkeyPtr(raw)); !r) return tl::unexpected(r.error());
  return Signer(std::move(impl));
}

bool Signer::in_tpm() const { return impl_->in_tpm; }

Algorithm Signer::algorithm() const { return impl_->algorithm; }
const std::string& Signer::key_id_hex() const { return impl_->key_id_hex; }
const std::string& Signer::public_pem() const { return impl_->public_pem; }

Result<std::string> Signer::sign(std::string_view message) {
  return sign(message, impl_->algorithm == Algorithm::ed25519 ? Sha256{} : sha256(message));
}

Result<std::string> Signer::sign(std::string_view message, const Sha256& message_sha256) {
  std::string sig;
  if (impl_->algorithm == Algorithm::ed25519) {
    sig.resize(64);
    size_t len = sig.size();
    if (EVP_DigestSignInit(impl_->ed_ctx.get(), nullptr, nullptr, nullptr, nullptr) != 1 ||  // see Impl
        EVP_DigestSign(impl_->ed_ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) != 1)
      return fail(ErrorCode::crypto, "", "ed25519 sign failed: " + openssl_error());
    sig.resize(len);
    return sig;
  }
  sig.resize(80);  // a P-256 DER signature is at most 72 bytes
  size_t len = sig.size();
  if (EVP_PKEY_sign(impl_->ecdsa_ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                    message_sha256.data(), message_sha256.size()) != 1)
    return fail(ErrorCode::crypto, "", "ecdsa sign failed: " + openssl_error());
  sig.resize(len);
  return sig;
}

Result<void> Signer::save(const std::filesystem::path& key_file) const {
  int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return fail(ErrorCode::io, key_file.string(), "refusing to overwrite an existing key file");
    return fail(ErrorCode::io, key_file.string(), std::strerror(errno));
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  // A TPM key is written by its provider as a TSS2 private-key PEM: the key wrapped by
  // the TPM, which no other machine can use.
  if (PEM_write_bio_PrivateKey_ex(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr, nullptr,
                                  impl_->libctx, nullptr) != 1) {
    ::close(fd);
    ::unlink(key_file.c_str());
    return fail(ErrorCode::crypto, key_file.string(), "cannot encode the private key: " + openssl_error());
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  bool ok = ::write(fd, data, static_cast<size_t>(len)) == len && ::fsync(fd) == 0;
  OPENSSL_cleanse(data, static_cast<size_t>(len));
  ::close(fd);
  if (!ok) return fail(ErrorCode::io, key_file.string(), "cannot write key file");
  return {};
}

}  // namespace mrv
