// The audit log in a PostgreSQL database (the registry's shared engine).
#include <mutex>

#include "audit_log.hpp"
#include "pg.hpp"

namespace mrv::registry {

namespace {

constexpr const char* kSchema = R"sql(
  CREATE TABLE audit (seq BIGINT PRIMARY KEY, line TEXT NOT NULL);
  CREATE FUNCTION mrv_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
  CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION mrv_audit_append_only();
  CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION mrv_audit_append_only();
)sql";
// The schema's steps: appended, never edited (pg::migrate).
const std::initializer_list<const char*> kSteps = {kSchema};

class PostgresAuditLog final : public AuditLog {
 public:
  explicit PostgresAuditLog(pg::Connection db) : AuditLog(db.where()), db_(std::move(db)) {}

  Result<void> load(const Replay& replay) {
    if (auto r = pg::migrate(db_, "audit", kSteps); !r) return r;
    auto rows = db_.exec("SELECT seq, line FROM audit ORDER BY seq");
    if (!rows) return tl::unexpected(rows.error());
    for (int i = 0; i < rows->size(); ++i)
      if (auto r = take(static_cast<uint64_t>(rows->int64(i, 0)), rows->text(i, 1), replay); !r) return r;
    return {};
  }

  Result<std::string> lines(uint64_t from_seq, size_t max) override {
    std::string from = std::to_string(std::min<uint64_t>(from_seq, INT64_MAX)), limit = std::to_string(max);
    std::lock_guard lock(mutex_);
    auto rows = pg::with_reconnect(db_, [&] {
      return db_.exec("SELECT line FROM audit WHERE seq >= $1 ORDER BY seq LIMIT $2", {{from}, {limit}});
    });
    if (!rows) return tl::unexpected(rows.error());
    std::string out;
    for (int i = 0; i < rows->size(); ++i) {
      out += rows->text(i, 0);
      out += '\n';
    }
    return out;
  }

 private:
  Result<bool> insert(uint64_t seq, const std::string& line) override {
    std::string s = std::to_string(seq), prev = last_hash_hex();
    std::lock_guard lock(mutex_);
    // Only after the entry this process wrote or read last: a database restored from a
    // backup or failed over with commits lost under a running registry is not extended
    // with a gap or a fork (the chain would stop the next start).
    auto done = pg::with_reconnect(db_, [&] {
      return db_.exec("INSERT INTO audit (seq, line) SELECT $1::bigint, $2 WHERE $1::bigint = 1 OR EXISTS "
                      "(SELECT 1 FROM audit WHERE seq = $1::bigint - 1 AND sha256(convert_to(line, 'UTF8')) = "
                      "decode($3, 'hex'))",
                      {{s}, {line}, {prev}});
    });
    if (!done && !done.error().message.starts_with("[23505]")) return tl::unexpected(done.error());
    if (done && done->affected() == 1) return true;
    // Either the seq is held (another process's entry, or this one's own whose reply was
    // lost: stored the first time), or the entry before it is not the one we know.
    auto held = db_.exec("SELECT line FROM audit WHERE seq = $1", {{s}});
    if (!held) return tl::unexpected(held.error());
    if (held->size() == 1) return held->text(0, 0) == line;
    return fail(ErrorCode::corruption, where(),
                "audit seq " + std::to_string(seq - 1) + " is no longer the entry this registry knows (the database "
                "was restored or failed over with commits lost): restart the registry to replay the log as it is now");
  }

  pg::Connection db_;
  std::mutex mutex_;  // one connection: one statement at a time
};

}  // namespace

Result<std::string> AuditLog::check_postgres(const std::string& url) {
  return pg::schema_line(url, "audit", kSteps.size());
}

Result<std::unique_ptr<AuditLog>> AuditLog::open_postgres(const std::string& url, const Replay& replay) {
  auto db = pg::Connection::open(url);
  if (!db) return tl::unexpected(db.error());
  auto log = std::make_unique<PostgresAuditLog>(std::move(*db));
  if (auto r = log->load(replay); !r) return tl::unexpected(r.error());
  return log;
}

}  // namespace mrv::registry
