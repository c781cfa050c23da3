#include "audit_log.hpp"

#include "mrv/core/crypto.hpp"

namespace mrv::registry {

using json = nlohmann::json;

Result<void> AuditLog::take(uint64_t seq, std::string_view line, const Replay& replay) {
  std::string at = where_ + ": audit seq " + std::to_string(seq);
  json entry = json::parse(line, nullptr, false);
  if (seq != last_seq_ + 1) return fail(ErrorCode::corruption, at, "follows seq " + std::to_string(last_seq_));
  if (entry.is_discarded() || !entry.is_object() || !entry.contains("action") || !entry.contains("prev") ||
      entry["prev"] != last_hash_hex_ || !entry.contains("seq") || entry["seq"] != seq || entry.dump() != line)
    return fail(ErrorCode::corruption, at, "not the entry that links to the one before it");
  if (auto r = replay(seq, entry["action"]); !r) return fail(ErrorCode::corruption, at, r.error().to_string());
  last_seq_ = seq;
  last_hash_hex_ = to_hex(sha256(line));
  return {};
}

Result<uint64_t> AuditLog::catch_up(const Replay& replay) {
  constexpr size_t kChunk = 1000;
  uint64_t taken = 0;
  for (;;) {
    auto text = lines(last_seq_ + 1, kChunk);
    if (!text) return tl::unexpected(text.error());
    std::string_view rest = *text;
    if (rest.empty()) return taken;
    while (!rest.empty()) {
      size_t end = rest.find('\n');
      std::string_view line = rest.substr(0, end);
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
      // take() checks the seq against the line's own; a line that is not JSON fails there.
      if (auto r = take(last_seq_ + 1, line, replay); !r) return tl::unexpected(r.error());
      ++taken;
    }
  }
}

Result<std::optional<std::string>> AuditLog::append(const std::string& actor, int64_t time_ms, const json& action) {
  // One entry's line: its members in sorted order, no spaces (nlohmann's objects are sorted).
  uint64_t seq = last_seq_ + 1;
  std::string line =
      json{{"seq", seq}, {"time_ms", time_ms}, {"actor", actor}, {"action", action}, {"prev", last_hash_hex_}}.dump();
  auto stored = insert(seq, line);
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored) return std::nullopt;
  last_seq_ = seq;
  last_hash_hex_ = to_hex(sha256(line));
  return line;
}

}  // namespace mrv::registry
