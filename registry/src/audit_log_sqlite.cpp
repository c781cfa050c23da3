// The audit log in one SQLite file (the default engine).
#include <sqlite3.h>

#include "audit_log.hpp"
#include "sqlite.hpp"

namespace mrv::registry {

namespace {

class SqliteAuditLog final : public AuditLog {
 public:
  SqliteAuditLog(sqlite3* db, const std::filesystem::path& file) : AuditLog(file.string()), db_(db) {}
  ~SqliteAuditLog() override { sqlite3_close_v2(db_); }

  Result<void> load(const Replay& replay) {
    sqlite3_busy_timeout(db_, 5000);
    const char* setup =
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
        "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, line TEXT NOT NULL);"
        "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
        "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";
    if (auto r = sqlite::exec(db_, setup, where()); !r) return r;
    sqlite::Statement read(db_, "SELECT seq, line FROM audit ORDER BY seq");
    int rc;
    while ((rc = read.step()) == SQLITE_ROW)
      if (auto r = take(static_cast<uint64_t>(read.int64(0)), read.text(1), replay); !r) return r;
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, where()));
    return {};
  }

  Result<std::string> lines(uint64_t from_seq, size_t max) override {
    sqlite::Statement read(db_, "SELECT line FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2");
    read.bind(1, static_cast<int64_t>(std::min<uint64_t>(from_seq, INT64_MAX))).bind(2, static_cast<int64_t>(max));
    std::string out;
    int rc;
    while ((rc = read.step()) == SQLITE_ROW) {
      out += read.text(0);
      out += '\n';
    }
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, where()));
    return out;
  }

 private:
  Result<bool> insert(uint64_t seq, const std::string& line) override {
    sqlite::Statement insert(db_, "INSERT INTO audit (seq, line) VALUES (?1, ?2)");
    insert.bind(1, static_cast<int64_t>(seq)).bind(2, line);
    // One process owns the file (data_dir), so its seq is never taken by another.
    if (int rc = insert.step(); rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, where()));
    return true;
  }

  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<AuditLog>> AuditLog::open_sqlite(const std::filesystem::path& file, const Replay& replay) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  auto log = std::make_unique<SqliteAuditLog>(db, file);
  if (rc != SQLITE_OK) return tl::unexpected(sqlite::error_of(db, rc, file.string()));
  if (auto r = log->load(replay); !r) return tl::unexpected(r.error());
  return log;
}

}  // namespace mrv::registry
