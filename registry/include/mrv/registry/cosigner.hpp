#pragma once
// The registry's cosigning key: it cosigns every checkpoint it accepts (a C2SP
// cosignature/v1 line, docs/verification.md §3.1), saying that it held that tree then.
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>

#include "mrv/core/cosignature.hpp"
#include "mrv/core/crypto.hpp"

namespace mrv::registry {

class Cosigner {
 public:
  // An Ed25519 private key (PEM) and the cosigner's name ([cosign] in registry.toml).
  [[nodiscard]] static Result<Cosigner> load(const std::filesystem::path& key_file, std::string name);
  Cosigner(Cosigner&&) noexcept = default;

  const std::string& name() const { return name_; }
  const PublicKey& public_key() const { return public_key_; }
  // Thread-safe. The cosignature line of `note` at `time_s` (POSIX seconds).
  [[nodiscard]] Result<std::string> cosign(std::string_view note, uint64_t time_s);
  // Whether a line is this cosigner's cosignature of `note` (one made earlier).
  bool is_own(std::string_view line, std::string_view note) const;

 private:
  Cosigner(Signer signer, PublicKey public_key, std::string name)
      : signer_(std::move(signer)), public_key_(std::move(public_key)), name_(std::move(name)) {}
  std::unique_ptr<std::mutex> mutex_ = std::make_unique<std::mutex>();  // Signer is not thread-safe
  Signer signer_;
  PublicKey public_key_;
  std::string name_;
};

}  // namespace mrv::registry
