#include "unproven_store.hpp"

#include "sqlite.hpp"

namespace mrv::registry {

namespace {
std::string_view bytes_of(const Sha256& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }
}  // namespace

Result<UnprovenStore> UnprovenStore::open(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  UnprovenStore store(db);  // closes db whatever happens next
  if (rc != SQLITE_OK) return tl::unexpected(sqlite::error_of(db, rc, path.string()));
  sqlite3_busy_timeout(db, 5000);
  const char* setup =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
      "CREATE TABLE IF NOT EXISTS unproven (seq INTEGER PRIMARY KEY, canonical BLOB NOT NULL, "
      "hash BLOB NOT NULL, sig BLOB NOT NULL, point TEXT NOT NULL, source TEXT NOT NULL, "
      "value TEXT NOT NULL, ts_ms INTEGER NOT NULL);";
  if (auto r = sqlite::exec(db, setup, path.string()); !r) return tl::unexpected(r.error());
  return store;
}

UnprovenStore::~UnprovenStore() {
  if (db_) sqlite3_close_v2(db_);
}

Result<std::optional<UnprovenStore::Last>> UnprovenStore::last(uint64_t before_seq) {
  sqlite::Statement s(db_, "SELECT seq, hash FROM unproven WHERE seq < ?1 ORDER BY seq DESC LIMIT 1");
  s.bind(1, static_cast<int64_t>(std::min<uint64_t>(before_seq, INT64_MAX)));
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::nullopt;
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(db_, rc, "read unproven records"));
  std::string_view h = s.blob(1);
  return Last{static_cast<uint64_t>(s.int64(0)), to_hex(reinterpret_cast<const uint8_t*>(h.data()), h.size())};
}

Result<uint64_t> UnprovenStore::count(uint64_t before_seq) {
  if (before_seq == 0) return 0;
  sqlite::Statement s(db_, "SELECT count(*) FROM unproven WHERE seq <= ?1");
  s.bind(1, static_cast<int64_t>(std::min<uint64_t>(before_seq - 1, INT64_MAX)));
  int rc = s.step();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(db_, rc, "count unproven records"));
  return static_cast<uint64_t>(s.int64(0));
}

Result<void> UnprovenStore::for_each(uint64_t from_seq, uint64_t to_seq, const std::function<void(MirrorRecord&&)>& fn) {
  sqlite::Statement s(db_,
                      "SELECT seq, canonical, hash, sig, point, source, value, ts_ms FROM unproven "
                      "WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq");
  s.bind(1, static_cast<int64_t>(std::min<uint64_t>(from_seq, INT64_MAX)))
      .bind(2, static_cast<int64_t>(std::min<uint64_t>(to_seq, INT64_MAX)));
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    MirrorRecord m;
    m.seq = static_cast<uint64_t>(s.int64(0));
    m.canonical = s.blob(1);
    std::string_view h = s.blob(2);
    if (h.size() == m.hash.size()) std::copy(h.begin(), h.end(), reinterpret_cast<char*>(m.hash.data()));
    m.signature = s.blob(3);
    m.point = s.text(4);
    m.source = s.text(5);
    m.value = s.text(6);
    m.ts_ms = s.int64(7);
    fn(std::move(m));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, "read unproven records"));
  return {};
}

Result<void> UnprovenStore::replace_from(uint64_t from_seq, std::span<const MirrorRecord> records) {
  if (auto r = sqlite::exec(db_, "BEGIN IMMEDIATE", "begin unproven records"); !r) return r;
  auto body = [&]() -> Result<void> {
    sqlite::Statement drop(db_, "DELETE FROM unproven WHERE seq >= ?1");
    drop.bind(1, static_cast<int64_t>(std::min<uint64_t>(from_seq, INT64_MAX)));
    if (int rc = drop.step(); rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, "drop unproven records"));
    sqlite::Statement insert(db_, "INSERT INTO unproven VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    for (const MirrorRecord& m : records) {
      insert.bind(1, static_cast<int64_t>(m.seq)).bind_blob(2, m.canonical).bind_blob(3, bytes_of(m.hash))
          .bind_blob(4, m.signature).bind(5, m.point).bind(6, m.source).bind(7, m.value).bind(8, m.ts_ms);
      int rc = insert.step();
      insert.reset();
      if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, "store unproven record"));
    }
    return sqlite::exec(db_, "COMMIT", "commit unproven records");
  };
  auto done = body();
  if (!done) (void)sqlite::exec(db_, "ROLLBACK", "rollback unproven records");
  return done;
}

Result<void> UnprovenStore::drop_through(uint64_t seq) {
  sqlite::Statement drop(db_, "DELETE FROM unproven WHERE seq <= ?1");
  drop.bind(1, static_cast<int64_t>(std::min<uint64_t>(seq, INT64_MAX)));
  if (int rc = drop.step(); rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, "drop unproven records"));
  return {};
}

}  // namespace mrv::registry
