#include "audit_log.hpp"

#include "mrv/core/crypto.hpp"
#include "sqlite.hpp"

namespace mrv::registry {

using json = nlohmann::json;

namespace {
// One entry's line: its members in sorted order, no spaces (nlohmann's objects are sorted).
std::string entry_line(uint64_t seq, int64_t time_ms, const std::string& actor, const json& action, const std::string& prev) {
  json entry = {{"seq", seq}, {"time_ms", time_ms}, {"actor", actor}, {"action", action}, {"prev", prev}};
  return entry.dump();
}
}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open(
    const std::filesystem::path& file, const std::function<Result<void>(uint64_t, const json&)>& replay) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  std::unique_ptr<AuditLog> log(new AuditLog(db, file));
  if (rc != SQLITE_OK) return tl::unexpected(sqlite::error_of(db, rc, file.string()));
  sqlite3_busy_timeout(db, 5000);
  const char* setup =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
      "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, line TEXT NOT NULL);"
      "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
      "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
      "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
      "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";
  if (auto r = sqlite::exec(db, setup, file.string()); !r) return tl::unexpected(r.error());
  sqlite::Statement read(db, "SELECT seq, line FROM audit ORDER BY seq");
  while ((rc = read.step()) == SQLITE_ROW) {
    uint64_t seq = static_cast<uint64_t>(read.int64(0));
    std::string where = file.string() + ": audit seq " + std::to_string(seq);
    std::string_view line = read.text(1);
    json entry = json::parse(line, nullptr, false);
    if (seq != log->last_seq_ + 1) return fail(ErrorCode::corruption, where, "follows seq " + std::to_string(log->last_seq_));
    if (entry.is_discarded() || !entry.is_object() || !entry.contains("action") || !entry.contains("prev") ||
        entry["prev"] != log->last_hash_hex_ || !entry.contains("seq") || entry["seq"] != seq || entry.dump() != line)
      return fail(ErrorCode::corruption, where, "not the entry that links to the one before it");
    if (auto r = replay(seq, entry["action"]); !r) return fail(ErrorCode::corruption, where, r.error().to_string());
    log->last_seq_ = seq;
    log->last_hash_hex_ = to_hex(sha256(line));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, file.string()));
  return log;
}

AuditLog::~AuditLog() {
  if (db_) sqlite3_close_v2(db_);
}

Result<std::string> AuditLog::append(const std::string& actor, int64_t time_ms, const json& action) {
  std::string line = entry_line(last_seq_ + 1, time_ms, actor, action, last_hash_hex_);
  sqlite::Statement insert(db_, "INSERT INTO audit (seq, line) VALUES (?1, ?2)");
  insert.bind(1, static_cast<int64_t>(last_seq_ + 1)).bind(2, line);
  if (int rc = insert.step(); rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, file_.string()));
  ++last_seq_;
  last_hash_hex_ = to_hex(sha256(line));
  return line;
}

Result<std::string> AuditLog::lines(uint64_t from_seq, size_t max) const {
  sqlite::Statement read(db_, "SELECT line FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2");
  read.bind(1, static_cast<int64_t>(std::min<uint64_t>(from_seq, INT64_MAX))).bind(2, static_cast<int64_t>(max));
  std::string out;
  int rc;
  while ((rc = read.step()) == SQLITE_ROW) {
    out += read.text(0);
    out += '\n';
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, file_.string()));
  return out;
}

}  // namespace mrv::registry
