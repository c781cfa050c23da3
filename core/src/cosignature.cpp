#include "mrv/core/cosignature.hpp"

#include <limits>

namespace mrv {
namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94 ";  // U+2014 and a space
constexpr size_t kSignedBytes = 4 + 8 + 64;            // key ID, timestamp, signature

// The signed message: the header and time lines, then the note's text with its final
// newline (the lines before the blank line).
std::string signed_message(std::string_view note, uint64_t time_s) {
  size_t split = note.find("\n\n");
  std::string_view text = split == std::string_view::npos ? note : note.substr(0, split + 1);
  std::string out = "cosignature/v1\ntime " + std::to_string(time_s) + "\n";
  out += text;
  return out;
}

}  // namespace

bool valid_cosigner_name(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  for (unsigned char c : name)
    if (c <= 0x20 || c >= 0x7f || c == '+') return false;
  return true;
}

std::string cosigner_key_id(const PublicKey& key, std::string_view name) {
  if (key.algorithm() != Algorithm::ed25519) return {};
  std::string input(name);
  input += '\n';
  input += '\x04';
  input += key.spki_der().substr(key.spki_der().size() - 32);  // the raw 32-byte key
  Sha256 h = sha256(input);
  return std::string(reinterpret_cast<const char*>(h.data()), 4);
}

Result<std::string> cosign_checkpoint(Signer& signer, const PublicKey& key, std::string_view name,
                                      std::string_view note, uint64_t time_s) {
  if (key.algorithm() != Algorithm::ed25519 || signer.algorithm() != Algorithm::ed25519)
    return fail(ErrorCode::invalid_argument, "cosign", "a cosigning key must be Ed25519 (C2SP cosignature/v1)");
  if (!valid_cosigner_name(name))
    return fail(ErrorCode::invalid_argument, "cosign",
                "the cosigner name must be 1 to 256 printable characters, no space or '+'");
  if (time_s > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    return fail(ErrorCode::invalid_argument, "cosign", "timestamp beyond 2^63 - 1");
  auto signature = signer.sign(signed_message(note, time_s));
  if (!signature) return tl::unexpected(signature.error());
  std::string bytes = cosigner_key_id(key, name);
  for (int shift = 56; shift >= 0; shift -= 8) bytes += static_cast<char>((time_s >> shift) & 0xff);
  bytes += *signature;
  return std::string(kEmDash) + std::string(name) + " " + to_base64(bytes);
}

Result<Cosignature> parse_cosignature(std::string_view line) {
  auto bad = [](std::string why) { return fail(ErrorCode::invalid_argument, "cosignature", std::move(why)); };
  if (!line.starts_with(kEmDash)) return bad("a signature line starts with U+2014 and a space");
  line.remove_prefix(kEmDash.size());
  size_t space = line.find(' ');
  if (space == std::string_view::npos) return bad("a signature line is '— <name> <base64>'");
  Cosignature c;
  c.name = std::string(line.substr(0, space));
  if (!valid_cosigner_name(c.name))
    return bad("the cosigner name is not 1 to 256 printable characters without space or '+'");
  // Canonical base64 only (as Python's verifier reads it): OpenSSL's decoder also takes
  // blanks, '=' inside and unused bits that are not zero.
  std::string_view text = line.substr(space + 1);
  auto bytes = from_base64(text);
  if (!bytes || bytes->size() != kSignedBytes || to_base64(*bytes) != text)
    return bad("not base64 of 76 bytes (key ID, timestamp, Ed25519 signature)");
  c.key_id = bytes->substr(0, 4);
  for (size_t i = 4; i < 12; ++i) c.time_s = c.time_s << 8 | static_cast<unsigned char>((*bytes)[i]);
  if (c.time_s > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return bad("timestamp beyond 2^63 - 1");
  c.signature = bytes->substr(12);
  return c;
}

CosignatureCheck check_cosignature(const Cosignature& cosignature, const PublicKey& key, std::string_view note) {
  std::string id = cosigner_key_id(key, cosignature.name);
  if (id.empty() || id != cosignature.key_id) return CosignatureCheck::other_key;
  return key.verify(signed_message(note, cosignature.time_s), cosignature.signature) ? CosignatureCheck::verified
                                                                                      : CosignatureCheck::bad;
}

}  // namespace mrv
