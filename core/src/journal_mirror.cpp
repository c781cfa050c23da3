// The registry's side of the journal: a mirror of one site's journal, filled with
// records the site signed and the registry verified (registry/). Same schema and tree
// as the agent's journal, so status, record queries and the bundle export read it as is.
#include "journal_impl.hpp"
#include "journal_schema.hpp"

namespace mrv {
namespace {
// Canonical bytes start so for a site record and for nothing else (record-format §1.2).
constexpr std::string_view kSiteRecordPrefix = "{\"v\":1,\"type\":\"site-record\",";
}  // namespace

Result<Journal> Journal::open_mirror(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  auto opened = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!opened) return tl::unexpected(opened.error());
  auto impl = std::make_unique<Impl>();
  sqlite3* db = impl->db = *opened;
  impl->options.path = path;
  // A mirror holds whatever history the site signed: two records may share a time,
  // point and value (a rolled-back journal collecting again), so the agent's unique
  // duplicate index becomes a plain time index.
  const char* setup =
      "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;";
  if (auto r = sqlite::exec(db, setup, path.string()); !r) return tl::unexpected(r.error());
  if (auto r = migrate_journal(db); !r) return tl::unexpected(r.error());
  const char* mirror_index =
      "DROP INDEX IF EXISTS records_by_time;"
      "CREATE INDEX IF NOT EXISTS mirror_records_by_time ON records (ts_ms);";
  if (auto r = sqlite::exec(db, mirror_index, path.string()); !r) return tl::unexpected(r.error());
  impl->insert_checkpoint = sqlite::Statement(
      db, "INSERT INTO checkpoints (tree_size, made_ms, reason, note) VALUES (?1, ?2, ?3, ?4)");
  impl->insert = sqlite::Statement(
      db, "INSERT INTO records (seq, point, source, ts_ms, value, canonical, hash, sig) "
          "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  if (auto r = impl->load_head(); !r) return tl::unexpected(r.error());
  if (auto r = impl->tree.load(db); !r) return tl::unexpected(r.error());
  if (auto r = impl->catch_up_tree(); !r) return tl::unexpected(r.error());
  return Journal(std::move(impl));
}

const std::string& Journal::last_hash_hex() const { return impl_->last_hash_hex; }

Result<void> Journal::ingest(std::span<const MirrorRecord> records, const Sha256* root_after) {
  Impl& j = *impl_;
  uint64_t seq_before = j.last_seq;
  std::string hash_before = j.last_hash_hex;
  j.tree.save();
  if (auto r = sqlite::exec(j.db, "BEGIN IMMEDIATE", "begin ingest"); !r) return r;
  auto body = [&]() -> Result<void> {
    for (const MirrorRecord& m : records) {
      if (m.seq <= j.last_seq)
        return fail(ErrorCode::invalid_argument, "seq " + std::to_string(m.seq), "not above the head");
      auto blob = [](const auto& bytes) {
        return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      };
      j.insert.bind(1, static_cast<int64_t>(m.seq)).bind(2, m.point).bind(3, m.source)
          .bind(4, m.ts_ms).bind(5, m.value).bind_blob(6, m.canonical).bind_blob(7, blob(m.hash))
          .bind_blob(8, m.signature);
      int rc = j.insert.step();
      j.insert.reset();
      if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "store record"));
      if (std::string_view(m.canonical).starts_with(kSiteRecordPrefix)) {  // the caller verified it
        auto f = decode_record(m.canonical);
        if (!f) return fail(ErrorCode::invalid_argument, "seq " + std::to_string(m.seq), f.error().to_string());
        if (auto c = j.copy_site_record(m.seq, f->reading, m.canonical, blob(m.hash), m.signature); !c) return c;
      }
      if (auto r = j.tree.append(m.seq, merkle_leaf_hash(m.canonical)); !r) return r;
      j.last_seq = m.seq;
      j.last_hash_hex = to_hex(m.hash);
    }
    if (root_after && j.tree.root() != *root_after)
      return fail(ErrorCode::corruption, "seq " + std::to_string(j.last_seq),
                  "the records do not have the root the checkpoint signs");
    return sqlite::exec(j.db, "COMMIT", "commit ingest");
  };
  auto done = body();
  if (!done) {
    (void)sqlite::exec(j.db, "ROLLBACK", "rollback ingest");
    j.last_seq = seq_before;
    j.last_hash_hex = std::move(hash_before);
    j.tree.restore();
  }
  return done;
}

Result<bool> Journal::add_key(const PublicKey& key, int64_t registered_ms) {
  sqlite::Statement s(impl_->db, "INSERT OR IGNORE INTO keys VALUES (?1, ?2, ?3, ?4)");
  s.bind(1, key.key_id_hex()).bind(2, to_string(key.algorithm())).bind(3, key.pem())
      .bind(4, registered_ms);
  int rc = s.step();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "register key"));
  return sqlite3_changes(impl_->db) > 0;
}

Result<bool> Journal::add_config(const std::string& hash_hex, std::string_view text) {
  sqlite::Statement s(impl_->db, "INSERT OR IGNORE INTO configs VALUES (?1, ?2, ?3)");
  s.bind(1, hash_hex).bind_blob(2, text).bind(3, utc_now_ms());
  int rc = s.step();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "store config"));
  return sqlite3_changes(impl_->db) > 0;
}

Result<bool> Journal::add_checkpoint(const Checkpoint& checkpoint, std::string_view reason) {
  sqlite::Statement held(impl_->db, "SELECT 1 FROM checkpoints WHERE tree_size = ?1 AND note = ?2");
  held.bind(1, static_cast<int64_t>(checkpoint.tree_size)).bind(2, checkpoint.note);
  int rc = held.step();
  if (rc == SQLITE_ROW) return false;
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "find checkpoint"));
  Impl& j = *impl_;
  j.insert_checkpoint.bind(1, static_cast<int64_t>(checkpoint.tree_size)).bind(2, checkpoint.time_ms)
      .bind(3, reason).bind(4, checkpoint.note);
  rc = j.insert_checkpoint.step();
  j.insert_checkpoint.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "store checkpoint"));
  return true;
}

Result<Sha256> Journal::tree_root(uint64_t size) {
  return stored_tree_root(impl_->db, size);
}

Result<std::optional<StoredRecord>> Journal::record(uint64_t seq) {
  std::optional<StoredRecord> found;
  auto r = for_each_record(seq, seq, [&](const StoredRecord& rec) { found = rec; });
  if (!r) return tl::unexpected(r.error());
  return found;
}

Result<std::vector<std::pair<std::string, std::string>>> Journal::configs() {
  sqlite::Statement s(impl_->db, "SELECT hash, text FROM configs ORDER BY first_used_ms, hash");
  std::vector<std::pair<std::string, std::string>> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) out.emplace_back(s.text(0), s.blob(1));
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read configs"));
  return out;
}

}  // namespace mrv
