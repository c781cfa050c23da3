#pragma once
// Cosignatures: a registry's word that it held a checkpoint's tree, in the C2SP
// tlog-cosignature form (cosignature/v1, Ed25519; docs/verification.md §3.1). A
// cosignature is a signature line added to the checkpoint's signed note:
//
//   — <cosigner name> base64(key ID (4) || timestamp (8, big-endian) || Ed25519 sig (64))
//
// over "cosignature/v1\ntime <timestamp>\n" followed by the note's text (its lines up to
// the blank line). Key ID: SHA-256(name || 0x0A || 0x04 || the 32-byte raw key)[:4].
#include <cstdint>
#include <string>
#include <string_view>

#include "mrv/core/crypto.hpp"
#include "mrv/core/error.hpp"

namespace mrv {

struct Cosignature {
  std::string name;       // the cosigner's key name
  std::string key_id;     // 4 bytes
  uint64_t time_s = 0;    // POSIX seconds when it was made
  std::string signature;  // 64 bytes
};

// Whether `name` may name a cosigner: 1 to 256 printable ASCII characters, no space or '+'.
bool valid_cosigner_name(std::string_view name);
// SHA-256(name || 0x0A || 0x04 || raw Ed25519 key)[:4]; "" for a key that is not Ed25519.
std::string cosigner_key_id(const PublicKey& key, std::string_view name);

// The cosignature line (without its final newline) of `note` by an Ed25519 key.
[[nodiscard]] Result<std::string> cosign_checkpoint(Signer& signer, const PublicKey& key, std::string_view name,
                                                    std::string_view note, uint64_t time_s);
// Parses one signature line (without its final newline) as a cosignature/v1, untrusted.
[[nodiscard]] Result<Cosignature> parse_cosignature(std::string_view line);

enum class CosignatureCheck {
  other_key,  // not this key's (name and key ID do not match it): ignored, as C2SP says
  verified,
  bad,        // this key's ID, but the signature does not verify over this note
};
CosignatureCheck check_cosignature(const Cosignature& cosignature, const PublicKey& key, std::string_view note);

}  // namespace mrv
