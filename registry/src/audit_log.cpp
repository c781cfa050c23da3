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

Result<std::string> AuditLog::append(const std::string& actor, int64_t time_ms, const json& action) {
  // One entry's line: its members in sorted order, no spaces (nlohmann's objects are sorted).
  uint64_t seq = last_seq_ + 1;
  std::string line =
      json{{"seq", seq}, {"time_ms", time_ms}, {"actor", actor}, {"action", action}, {"prev", last_hash_hex_}}.dump();
  if (auto r = insert(seq, line); !r) return tl::unexpected(r.error());
  last_seq_ = seq;
  last_hash_hex_ = to_hex(sha256(line));
  return line;
}

}  // namespace mrv::registry
