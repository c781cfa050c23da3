#include "mrv/core/checkpoint.hpp"

#include <charconv>
#include <vector>

namespace mrv {
namespace {

constexpr std::string_view kEmDash = "\xE2\x80\x94 ";  // U+2014 and a space
constexpr std::string_view kTimeExtension = "mrv-time-ms ";

std::string body_of(const std::string& origin, uint64_t size, const Sha256& root, int64_t time_ms) {
  std::string body = origin + "\n" + std::to_string(size) + "\n";
  body += to_base64({reinterpret_cast<const char*>(root.data()), root.size()});
  body += "\n";
  body += kTimeExtension;
  body += std::to_string(time_ms) + "\n";
  return body;
}

template <class T>
bool parse_decimal(std::string_view text, T& out) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

}  // namespace

std::string checkpoint_origin(std::string_view site_id) { return "mrv-agent/" + std::string(site_id); }

std::string note_key_hash(const PublicKey& key, std::string_view name) {
  Sha256 h;
  if (key.algorithm() == Algorithm::ed25519) {
    std::string input(name);
    input += '\n';
    input += '\x01';
    input += key.spki_der().substr(key.spki_der().size() - 32);  // the raw 32-byte key
    h = sha256(input);
  } else {
    h = sha256(key.spki_der());
  }
  return std::string(reinterpret_cast<const char*>(h.data()), 4);
}

Result<Checkpoint> sign_checkpoint(Signer& signer, const PublicKey& public_key, std::string origin,
                                   uint64_t tree_size, const Sha256& root, int64_t time_ms) {
  std::string body = body_of(origin, tree_size, root, time_ms);
  auto signature = signer.sign(body);
  if (!signature) return tl::unexpected(signature.error());
  Checkpoint c{std::move(origin), tree_size, root, time_ms, {}};
  c.note = body + "\n" + std::string(kEmDash) + c.origin + " " +
           to_base64(note_key_hash(public_key, c.origin) + *signature) + "\n";
  return c;
}

Result<Checkpoint> parse_checkpoint(std::string_view note) {
  auto bad = [](std::string why) { return fail(ErrorCode::invalid_argument, "checkpoint", std::move(why)); };
  size_t split = note.find("\n\n");
  if (split == std::string_view::npos || note.empty() || note.back() != '\n')
    return bad("not a signed note (text, blank line, signature lines, final newline)");
  for (unsigned char ch : note)
    if (ch < 0x20 && ch != '\n') return bad("control character in the note");
  auto body = lines_of(note.substr(0, split + 1));
  if (body.size() < 3) return bad("the note needs origin, tree size and root hash lines");
  Checkpoint c;
  c.origin = std::string(body[0]);
  if (c.origin.empty()) return bad("empty origin line");
  if (!parse_decimal(body[1], c.tree_size)) return bad("tree size '" + std::string(body[1]) + "' is not a decimal number");
  auto root = from_base64(body[2]);
  if (!root || root->size() != 32) return bad("root hash is not 32 bytes of base64");
  std::copy(root->begin(), root->end(), c.root.begin());
  for (size_t i = 3; i < body.size(); ++i)
    if (body[i].starts_with(kTimeExtension) &&
        !parse_decimal(body[i].substr(kTimeExtension.size()), c.time_ms))
      return bad("bad mrv-time-ms line");
  c.note = std::string(note);
  return c;
}

bool verify_checkpoint(const Checkpoint& checkpoint, const PublicKey& key) {
  std::string_view note = checkpoint.note;
  size_t split = note.find("\n\n");
  if (split == std::string_view::npos) return false;
  std::string_view body = note.substr(0, split + 1);
  std::string key_hash = note_key_hash(key, checkpoint.origin);
  for (std::string_view line : lines_of(note.substr(split + 2))) {
    if (!line.starts_with(kEmDash)) return false;  // only signature lines after the blank line
    line.remove_prefix(kEmDash.size());
    size_t space = line.find(' ');
    if (space == std::string_view::npos || line.substr(0, space) != checkpoint.origin) continue;
    auto sig = from_base64(line.substr(space + 1));
    if (!sig || sig->size() < 5 || sig->compare(0, 4, key_hash) != 0) continue;
    if (key.verify(body, std::string_view(*sig).substr(4))) return true;
  }
  return false;
}

}  // namespace mrv
