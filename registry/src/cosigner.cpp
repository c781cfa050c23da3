#include "mrv/registry/cosigner.hpp"

namespace mrv::registry {

Result<Cosigner> Cosigner::load(const std::filesystem::path& key_file, std::string name) {
  auto signer = Signer::load(key_file);
  if (!signer) return tl::unexpected(signer.error());
  if (signer->algorithm() != Algorithm::ed25519)
    return fail(ErrorCode::invalid_argument, key_file.string(),
                "a cosigning key must be Ed25519 (C2SP cosignature/v1): make one with "
                "openssl genpkey -algorithm ed25519");
  if (!valid_cosigner_name(name))
    return fail(ErrorCode::invalid_argument, "[cosign] name",
                "'" + name + "' is not 1 to 256 printable characters without space or '+'");
  auto key = PublicKey::from_pem(signer->public_pem());
  if (!key) return tl::unexpected(key.error());
  return Cosigner(std::move(*signer), std::move(*key), std::move(name));
}

Result<std::string> Cosigner::cosign(std::string_view note, uint64_t time_s) {
  std::lock_guard lock(*mutex_);
  return cosign_checkpoint(signer_, public_key_, name_, note, time_s);
}

bool Cosigner::is_own(std::string_view line, std::string_view note) const {
  auto c = parse_cosignature(line);
  return c && c->name == name_ && check_cosignature(*c, public_key_, note) == CosignatureCheck::verified;
}

}  // namespace mrv::registry
