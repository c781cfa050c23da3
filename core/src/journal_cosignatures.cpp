// Cosignatures of checkpoints (schema 6, table cosignatures; docs/verification.md §3.1):
// kept per checkpoint row, read with the checkpoints.
#include <algorithm>

#include "journal_impl.hpp"

namespace mrv {

Result<bool> Journal::add_cosignature(const Checkpoint& checkpoint, std::string_view line) {
  sqlite::Statement find(impl_->db, "SELECT id FROM checkpoints WHERE tree_size = ?1 AND note = ?2 LIMIT 1");
  find.bind(1, static_cast<int64_t>(checkpoint.tree_size)).bind(2, checkpoint.note);
  int rc = find.step();
  if (rc == SQLITE_DONE)
    return fail(ErrorCode::not_found, "cosignature",
                "no such checkpoint of tree size " + std::to_string(checkpoint.tree_size) + " in the journal");
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(impl_->db, rc, "find checkpoint"));
  sqlite::Statement s(impl_->db, "INSERT OR IGNORE INTO cosignatures (checkpoint_id, line) VALUES (?1, ?2)");
  s.bind(1, find.int64(0)).bind(2, line);
  rc = s.step();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "store cosignature"));
  return sqlite3_changes(impl_->db) > 0;
}

Result<uint64_t> Journal::largest_checkpoint_size() {
  sqlite::Statement s(impl_->db, "SELECT coalesce(max(tree_size), 0) FROM checkpoints");
  int rc = s.step();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read checkpoints"));
  return static_cast<uint64_t>(s.int64(0));
}

namespace {

// The first cosigned checkpoint in `order` among those with tree_size >= min_size.
Result<std::optional<StoredCheckpoint>> one_cosigned_checkpoint(sqlite3* db, uint64_t min_size, const char* order) {
  std::vector<StoredCheckpoint> found;
  if (!sqlite::has_table(db, "cosignatures")) return std::optional<StoredCheckpoint>();
  std::string sql = std::string("SELECT id, reason, note FROM checkpoints c WHERE tree_size >= ?1 AND EXISTS "
                                "(SELECT 1 FROM cosignatures WHERE checkpoint_id = c.id) ORDER BY ") + order + " LIMIT 1";
  sqlite::Statement s(db, sql.c_str());
  s.bind(1, static_cast<int64_t>(std::min<uint64_t>(min_size, INT64_MAX)));
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<StoredCheckpoint>();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(db, rc, "read checkpoints"));
  auto c = parse_checkpoint(s.text(2));
  if (!c) return fail(ErrorCode::corruption, "checkpoint " + std::to_string(s.int64(0)), c.error().message);
  found.push_back({s.int64(0), std::string(s.text(1)), std::move(*c), {}});
  if (auto r = attach_cosignatures(db, found); !r) return tl::unexpected(r.error());
  return std::optional<StoredCheckpoint>(std::move(found.front()));
}

}  // namespace

Result<std::optional<StoredCheckpoint>> Journal::first_cosigned_checkpoint(uint64_t min_size) {
  return one_cosigned_checkpoint(impl_->db, min_size, "tree_size, id");
}

Result<std::optional<StoredCheckpoint>> Journal::newest_cosigned_checkpoint() {
  return one_cosigned_checkpoint(impl_->db, 0, "tree_size DESC, id");
}

Result<void> attach_cosignatures(sqlite3* db, std::vector<StoredCheckpoint>& checkpoints) {
  if (checkpoints.empty() || !sqlite::has_table(db, "cosignatures")) return {};
  sqlite::Statement s(db, "SELECT line FROM cosignatures WHERE checkpoint_id = ?1 ORDER BY line");
  for (StoredCheckpoint& c : checkpoints) {
    s.bind(1, c.id);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) c.cosignatures.emplace_back(s.text(0));
    s.reset();
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read cosignatures"));
  }
  return {};
}

}  // namespace mrv
