#pragma once
// Checkpoints: signed tree heads in the C2SP tlog-checkpoint form, signed as a C2SP
// signed note (docs/verification.md §3):
//
//   mrv-agent/<site>\n        origin (also the signature's key name)
//   <tree size>\n             decimal
//   <root hash>\n             base64 of the 32-byte RFC 9162 root
//   mrv-time-ms <ms>\n        extension line: the agent's UTC clock when it signed
//   \n
//   — mrv-agent/<site> <base64(4-byte key hash || signature)>\n
#include <cstdint>
#include <string>
#include <string_view>

#include "mrv/core/crypto.hpp"
#include "mrv/core/error.hpp"

namespace mrv {

struct Checkpoint {
  std::string origin;
  uint64_t tree_size = 0;
  Sha256 root{};
  int64_t time_ms = 0;
  std::string note;  // the whole signed note, verbatim
};

std::string checkpoint_origin(std::string_view site_id);
// The signed-note key hash of `key` under `name`: Ed25519 SHA-256(name || 0x0A || 0x01 ||
// raw key)[:4]; ECDSA (type 0x02) SHA-256(SPKI DER)[:4].
std::string note_key_hash(const PublicKey& key, std::string_view name);

[[nodiscard]] Result<Checkpoint> sign_checkpoint(Signer& signer, const PublicKey& public_key,
                                                 std::string origin, uint64_t tree_size,
                                                 const Sha256& root, int64_t time_ms);
// Parses a note's text and signature lines without trusting it.
[[nodiscard]] Result<Checkpoint> parse_checkpoint(std::string_view note);
// True when a signature line of `key` under the checkpoint's origin verifies.
bool verify_checkpoint(const Checkpoint& checkpoint, const PublicKey& key);

}  // namespace mrv
