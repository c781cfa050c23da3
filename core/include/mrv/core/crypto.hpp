#pragma once
// Hashing and the two signature profiles, on OpenSSL 3 EVP. Keys are held behind
// pimpl so no OpenSSL type leaks into our headers.
//   ed25519            PureEdDSA over the record bytes, 64-byte signature
//   ecdsa-p256-sha256  ECDSA P-256 over SHA-256(record bytes), DER signature
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

using Sha256 = std::array<uint8_t, 32>;

Sha256 sha256(std::string_view bytes);

// SHA-256 of data that arrives in pieces (a file being streamed).
class Sha256Stream {
 public:
  Sha256Stream();
  Sha256Stream(Sha256Stream&&) noexcept;
  Sha256Stream& operator=(Sha256Stream&&) noexcept;
  ~Sha256Stream();
  void update(std::string_view bytes);
  Sha256 finish();  // the digest; the stream starts again empty

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
std::string to_hex(const uint8_t* data, size_t size);
inline std::string to_hex(const Sha256& h) { return to_hex(h.data(), h.size()); }
inline std::string to_hex(std::string_view bytes) {
  return to_hex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}
[[nodiscard]] Result<std::string> from_hex(std::string_view hex);
std::string to_base64(std::string_view bytes);
[[nodiscard]] Result<std::string> from_base64(std::string_view text);

enum class Algorithm { ed25519, ecdsa_p256_sha256 };
std::string_view to_string(Algorithm a);
[[nodiscard]] Result<Algorithm> parse_algorithm(std::string_view name);

// A public key: verifies signatures. Immutable, cheap to share between threads.
class PublicKey {
 public:
  [[nodiscard]] static Result<PublicKey> from_pem(std::string_view pem);
  [[nodiscard]] static Result<PublicKey> load(const std::filesystem::path& pem_file);
  PublicKey(PublicKey&&) noexcept;
  PublicKey& operator=(PublicKey&&) noexcept;
  ~PublicKey();

  Algorithm algorithm() const;
  const std::string& key_id_hex() const;  // SHA-256 of the SubjectPublicKeyInfo DER
  const std::string& pem() const;
  const std::string& spki_der() const;  // SubjectPublicKeyInfo, DER
  bool verify(std::string_view message, std::string_view signature) const;

 private:
  struct Impl;
  explicit PublicKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Verifies signatures of one key with an OpenSSL context set up once: for a thread that
// checks many records (a per-call setup costs a provider lookup under a lock). Not
// thread-safe: one per thread.
class SignatureVerifier {
 public:
  explicit SignatureVerifier(const PublicKey& key);
  SignatureVerifier(SignatureVerifier&&) noexcept;
  SignatureVerifier& operator=(SignatureVerifier&&) noexcept;
  ~SignatureVerifier();
  bool verify(std::string_view message, std::string_view signature);
  // The same, for a caller that already has SHA-256(message) (a record's hash): ECDSA
  // then skips hashing it again.
  bool verify(std::string_view message, std::string_view signature, const Sha256& message_sha256);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether a key file is a TSS2 private-key PEM (a key held in a TPM).
bool is_tpm_key_file(const std::filesystem::path& key_file);
// Closes this process's connection to the TPM (unloads the tpm2 provider), so another
// program can use a TPM that serves one client at a time (swtpm, /dev/tpm0). No TPM
// Signer may be alive; the next TPM key connects again.
void release_tpm();

// A private key: signs. Not thread-safe (it keeps its OpenSSL context for speed); give
// each signing thread its own.
class Signer {
 public:
  // Refuses a file that group or others may read, and never puts key bytes in errors.
  // A TSS2 private-key PEM file (is_tpm_key_file) is a key held in a TPM, used through
  // OpenSSL's tpm2 provider; `tpm_tcti` says how to reach the TPM (e.g.
  // "device:/dev/tpmrm0", "swtpm:host=127.0.0.1,port=2321"; empty: the provider's
  // default). The first TPM key a process loads fixes the TCTI for the process. A TPM
  // key's signer is slow (milliseconds a signature) and must be used by one thread.
  [[nodiscard]] static Result<Signer> load(const std::filesystem::path& key_file,
                                           const std::string& tpm_tcti = {});
  [[nodiscard]] static Result<Signer> generate(Algorithm algorithm);
  // An ECDSA P-256 key made inside the TPM (fixedTPM, fixedParent, sensitiveDataOrigin):
  // save() writes it as a TSS2 private-key PEM, usable only with this TPM.
  [[nodiscard]] static Result<Signer> generate_in_tpm(const std::string& tpm_tcti = {});
  Signer(Signer&&) noexcept;
  Signer& operator=(Signer&&) noexcept;
  ~Signer();

  Algorithm algorithm() const;
  bool in_tpm() const;  // the private key is held in a TPM
  const std::string& key_id_hex() const;
  const std::string& public_pem() const;
  [[nodiscard]] Result<std::string> sign(std::string_view message);
  // The same, for a caller that already has SHA-256(message): ECDSA then skips hashing
  // it again (Ed25519 signs the message itself either way).
  [[nodiscard]] Result<std::string> sign(std::string_view message, const Sha256& message_sha256);
  // Writes the private key as PKCS#8 PEM with mode 0600; refuses to overwrite.
  [[nodiscard]] Result<void> save(const std::filesystem::path& key_file) const;

 private:
  struct Impl;
  explicit Signer(std::unique_ptr<Impl> impl);
  [[nodiscard]] static Result<Signer> load_tpm(const std::filesystem::path& key_file, const std::string& tpm_tcti);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv
