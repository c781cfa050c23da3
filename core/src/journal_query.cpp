// Journal queries (status, export) and storage housekeeping (quota, upload cursor).
#include "journal_impl.hpp"
#include "journal_tree.hpp"

namespace mrv {
namespace {
constexpr const char* kUploadCursor = "registry";
constexpr int64_t kPruneChunk = 10'000;  // records per prune transaction

Result<int64_t> pragma_int(sqlite3* db, const char* pragma) {
  sqlite::Statement s(db, pragma);
  int rc = s.step();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(db, rc, pragma));
  return s.int64(0);
}

Result<uint64_t> used_bytes(sqlite3* db) {
  auto pages = pragma_int(db, "PRAGMA page_count");
  auto free_pages = pragma_int(db, "PRAGMA freelist_count");
  auto page_size = pragma_int(db, "PRAGMA page_size");
  if (!pages) return tl::unexpected(pages.error());
  if (!free_pages) return tl::unexpected(free_pages.error());
  if (!page_size) return tl::unexpected(page_size.error());
  return static_cast<uint64_t>((*pages - *free_pages) * *page_size);
}

Result<uint64_t> upload_cursor(sqlite3* db) {
  sqlite::Statement s(db, "SELECT seq FROM cursors WHERE name = ?1");
  s.bind(1, std::string_view(kUploadCursor));
  int rc = s.step();
  if (rc == SQLITE_ROW) return static_cast<uint64_t>(s.int64(0));
  if (rc == SQLITE_DONE) return uint64_t{0};
  return tl::unexpected(sqlite::error_of(db, rc, "read upload cursor"));
}
}  // namespace

Result<void> Journal::set_upload_cursor(uint64_t seq) {
  sqlite::Statement s(impl_->db,
                      "INSERT INTO cursors VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET "
                      "seq = max(seq, excluded.seq)");
  seq = std::min(seq, impl_->last_seq);  // a receipt can only cover what exists
  s.bind(1, std::string_view(kUploadCursor)).bind(2, static_cast<int64_t>(seq));
  int rc = s.step();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "set upload cursor"));
  return {};
}

// Deletes the oldest receipted records, at most kPruneChunk, in one transaction, keeping
// the hash of the last one deleted so the chain continues. Returns how many went.
static Result<uint64_t> prune_receipted_chunk(Journal::Impl& j) {
  auto cursor = upload_cursor(j.db);
  if (!cursor) return tl::unexpected(cursor.error());
  sqlite::Statement oldest(j.db, "SELECT min(seq) FROM records");
  if (oldest.step() != SQLITE_ROW || oldest.is_null(0)) return uint64_t{0};
  auto first = static_cast<uint64_t>(oldest.int64(0));
  if (first > *cursor) return uint64_t{0};  // nothing receipted is left
  uint64_t through = std::min<uint64_t>(*cursor, first + kPruneChunk - 1);
  // The newest record that goes: its seq and hash are where the chain continues.
  sqlite::Statement head(j.db,
                         "SELECT seq, hash FROM records WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1");
  head.bind(1, static_cast<int64_t>(through));
  if (head.step() != SQLITE_ROW) return uint64_t{0};
  through = static_cast<uint64_t>(head.int64(0));
  std::string head_hash_hex = to_hex(head.blob(1));
  head.reset();
  // Leaf chunks whose records all go, go too (never the newest: it tells the tree's
  // size); the subtrees the checkpoints among them need are kept first.
  sqlite::Statement chunks(j.db, "SELECT coalesce(min(chunk), 0), coalesce(max(chunk), 0) FROM merkle_leaves");
  if (chunks.step() != SQLITE_ROW) return uint64_t{0};
  uint64_t first_chunk = static_cast<uint64_t>(chunks.int64(0));
  uint64_t first_kept_chunk = std::min(through / kChunkLeaves, static_cast<uint64_t>(chunks.int64(1)));
  chunks.reset();
  if (auto r = sqlite::exec(j.db, "BEGIN IMMEDIATE", "begin prune"); !r) return tl::unexpected(r.error());
  // The newest chunk's leaves live in the records until it fills: keep them first.
  if (auto r = j.tree.flush(); !r) {
    (void)sqlite::exec(j.db, "ROLLBACK", "rollback");
    return tl::unexpected(r.error());
  }
  if (auto r = keep_checkpoint_nodes(j.db, first_chunk, first_kept_chunk); !r) {
    (void)sqlite::exec(j.db, "ROLLBACK", "rollback");
    return tl::unexpected(r.error());
  }
  std::string sql = "DELETE FROM merkle_leaves WHERE chunk < " + std::to_string(first_kept_chunk) +
                    "; DELETE FROM records WHERE seq <= " + std::to_string(through) +
                    "; INSERT OR REPLACE INTO meta VALUES ('pruned_through_seq', '" +
                    std::to_string(through) +
                    "'); INSERT OR REPLACE INTO meta VALUES ('pruned_head_hash', '" +
                    head_hash_hex + "'); COMMIT;";
  if (auto r = sqlite::exec(j.db, sql.c_str(), "prune receipted records"); !r) {
    (void)sqlite::exec(j.db, "ROLLBACK", "rollback");
    return tl::unexpected(r.error());
  }
  return through - first + 1;
}

Result<bool> Journal::enforce_quota() {
  for (;;) {
    auto used = used_bytes(impl_->db);
    if (!used) return tl::unexpected(used.error());
    if (*used <= impl_->options.quota_bytes) return true;
    auto pruned = prune_receipted_chunk(*impl_);
    if (!pruned) return tl::unexpected(pruned.error());
    if (*pruned == 0) return false;
  }
}

Result<uint64_t> Journal::prune_receipted() { return prune_receipted_chunk(*impl_); }

Result<JournalStats> Journal::stats() {
  Impl& j = *impl_;
  JournalStats st;
  sqlite::Statement s(j.db, "SELECT min(seq), max(seq), count(*) FROM records");
  if (s.step() == SQLITE_ROW && !s.is_null(0)) {
    st.first_seq = static_cast<uint64_t>(s.int64(0));
    st.last_seq = static_cast<uint64_t>(s.int64(1));
    st.record_count = static_cast<uint64_t>(s.int64(2));
  }
  if (auto load = j.load_head(); !load) return tl::unexpected(load.error());
  st.last_seq = j.last_seq;
  st.head_hash_hex = j.last_hash_hex;
  auto used = used_bytes(j.db);
  if (!used) return tl::unexpected(used.error());
  st.used_bytes = *used;
  std::error_code ec;
  st.file_bytes = std::filesystem::file_size(j.options.path, ec);
  auto wal = std::filesystem::file_size(j.options.path.string() + "-wal", ec);
  if (!ec) st.file_bytes += wal;
  st.quota_bytes = j.options.quota_bytes;
  auto cursor = upload_cursor(j.db);
  if (!cursor) return tl::unexpected(cursor.error());
  st.upload_cursor = *cursor;
  return st;
}

Result<std::optional<PointLast>> Journal::last_reading(const std::string& point_id) {
  sqlite::Statement s(impl_->db,
                      "SELECT h.seq, h.ts_ms, r.canonical FROM point_heads h "
                      "LEFT JOIN records r ON r.seq = h.seq WHERE h.point = ?1");
  s.bind(1, point_id);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<PointLast>();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(impl_->db, rc, "last reading"));
  if (s.is_null(2))  // uploaded and pruned since: its seq and time are still known
    return PointLast{point_id, static_cast<uint64_t>(s.int64(0)), "", "", "pruned", s.int64(1)};
  auto f = decode_record(s.blob(2));
  if (!f) return tl::unexpected(f.error());
  return PointLast{point_id, f->seq, f->reading.value, f->reading.unit,
                   std::string(to_string(f->reading.quality)), f->reading.ts_ms};
}

Result<void> Journal::for_each_record(uint64_t from_seq, uint64_t to_seq,
                                      const std::function<void(const StoredRecord&)>& fn,
                                      uint64_t max_records) {
  sqlite::Statement s(impl_->db,
                      "SELECT seq, canonical, hash, sig FROM records WHERE seq BETWEEN ?1 AND ?2 "
                      "ORDER BY seq LIMIT ?3");
  auto clamp = [](uint64_t v) { return static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX)); };
  s.bind(1, clamp(from_seq)).bind(2, clamp(to_seq)).bind(3, max_records ? clamp(max_records) : -1);
  StoredRecord r;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    r.seq = static_cast<uint64_t>(s.int64(0));
    r.canonical.assign(s.blob(1));
    r.hash.assign(s.blob(2));
    r.signature.assign(s.blob(3));
    fn(r);
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read records"));
  return {};
}

Result<void> Journal::read_snapshot(const std::function<Result<void>()>& fn) {
  if (auto r = sqlite::exec(impl_->db, "BEGIN", "begin read snapshot"); !r) return r;
  auto result = fn();
  (void)sqlite::exec(impl_->db, "COMMIT", "end read snapshot");
  return result;
}

Result<std::optional<std::pair<uint64_t, uint64_t>>> Journal::seq_range_for_time(int64_t from_ms,
                                                                                 int64_t to_ms) {
  sqlite::Statement s(impl_->db,
                      "SELECT min(seq), max(seq) FROM records WHERE ts_ms >= ?1 AND ts_ms < ?2");
  s.bind(1, from_ms).bind(2, to_ms);
  int rc = s.step();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(impl_->db, rc, "find time range"));
  if (s.is_null(0)) return std::optional<std::pair<uint64_t, uint64_t>>();
  return std::optional(std::pair{static_cast<uint64_t>(s.int64(0)),
                                 static_cast<uint64_t>(s.int64(1))});
}

Result<std::vector<DayCoverage>> Journal::coverage_by_day(int64_t from_ms, int64_t to_ms) {
  constexpr int64_t kDayMs = 86'400'000;
  // A range scan of the time index; one row per day that has readings.
  sqlite::Statement s(impl_->db,
                      "SELECT ts_ms / 86400000, count(*), count(DISTINCT point), min(ts_ms), max(ts_ms), min(seq), "
                      "max(seq) FROM records WHERE ts_ms >= ?1 AND ts_ms < ?2 GROUP BY 1 ORDER BY 1");
  s.bind(1, std::max<int64_t>(0, from_ms)).bind(2, to_ms);
  std::vector<DayCoverage> days;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    days.push_back({s.int64(0) * kDayMs, static_cast<uint64_t>(s.int64(1)), static_cast<uint64_t>(s.int64(2)),
                    s.int64(3), s.int64(4), static_cast<uint64_t>(s.int64(5)), static_cast<uint64_t>(s.int64(6))});
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read coverage"));
  return days;
}

Result<std::vector<QuarantineRow>> Journal::quarantine(int64_t from_ms, int64_t to_ms, size_t limit) {
  sqlite::Statement s(impl_->db,
                      "SELECT id, received_ms, source, subscription, topic, reason, detail, payload "
                      "FROM quarantine WHERE received_ms >= ?1 AND received_ms < ?2 "
                      "ORDER BY id LIMIT ?3");
  s.bind(1, from_ms).bind(2, to_ms).bind(3, static_cast<int64_t>(limit));
  std::vector<QuarantineRow> rows;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    QuarantineRow q;
    q.id = s.int64(0);
    q.received_ms = s.int64(1);
    q.source = s.text(2);
    q.subscription = s.text(3);
    q.topic = s.text(4);
    q.reason = s.text(5);
    q.detail = s.text(6);
    q.payload = s.blob(7);
    rows.push_back(std::move(q));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read quarantine"));
  return rows;
}

Result<std::vector<std::tuple<std::string, std::string, uint64_t>>> Journal::quarantine_counts() {
  sqlite::Statement s(impl_->db,
                      "SELECT source, reason, count(*) FROM quarantine GROUP BY source, reason "
                      "ORDER BY source, reason");
  std::vector<std::tuple<std::string, std::string, uint64_t>> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.emplace_back(std::string(s.text(0)), std::string(s.text(1)), static_cast<uint64_t>(s.int64(2)));
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "count quarantine"));
  return out;
}

Result<uint64_t> Journal::tree_size() { return stored_tree_size(impl_->db); }

NodeSource Journal::tree_nodes() { return stored_tree_nodes(impl_->db); }

namespace {
Result<std::vector<StoredCheckpoint>> read_checkpoints(sqlite::Statement& s, sqlite3* db) {
  std::vector<StoredCheckpoint> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto c = parse_checkpoint(s.text(2));
    if (!c) return fail(ErrorCode::corruption, "checkpoint " + std::to_string(s.int64(0)), c.error().message);
    out.push_back({s.int64(0), std::string(s.text(1)), std::move(*c), {}});
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read checkpoints"));
  if (auto r = attach_cosignatures(db, out); !r) return tl::unexpected(r.error());
  return out;
}
}  // namespace

Result<std::vector<StoredCheckpoint>> Journal::checkpoints(uint64_t min_size, uint64_t max_size) {
  sqlite::Statement s(impl_->db, "SELECT id, reason, note FROM checkpoints WHERE tree_size BETWEEN ?1 AND ?2 "
                                 "ORDER BY tree_size, id");
  s.bind(1, static_cast<int64_t>(std::min<uint64_t>(min_size, INT64_MAX)))
      .bind(2, static_cast<int64_t>(std::min<uint64_t>(max_size, INT64_MAX)));
  return read_checkpoints(s, impl_->db);
}

Result<std::optional<StoredCheckpoint>> Journal::latest_checkpoint() {
  sqlite::Statement s(impl_->db, "SELECT id, reason, note FROM checkpoints ORDER BY id DESC LIMIT 1");
  auto rows = read_checkpoints(s, impl_->db);
  if (!rows) return tl::unexpected(rows.error());
  if (rows->empty()) return std::optional<StoredCheckpoint>();
  return std::optional<StoredCheckpoint>(std::move(rows->front()));
}

Result<std::optional<std::string>> Journal::config_text(const std::string& hash_hex) {
  sqlite::Statement s(impl_->db, "SELECT text FROM configs WHERE hash = ?1");
  s.bind(1, hash_hex);
  int rc = s.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(std::string(s.blob(0)));
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read config"));
  return std::optional<std::string>();
}

Result<std::vector<Journal::KeyInfo>> Journal::public_keys() {
  sqlite::Statement s(impl_->db,
                      "SELECT key_id, algorithm, public_pem, first_used_ms FROM keys ORDER BY first_used_ms");
  std::vector<KeyInfo> keys;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    keys.push_back({std::string(s.text(0)), std::string(s.text(1)), std::string(s.text(2)), s.int64(3)});
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read keys"));
  return keys;
}

}  // namespace mrv
