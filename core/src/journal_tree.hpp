#pragma once
// The journal's Merkle tree (docs/verification.md §2), kept in two tables so the root and
// any proof cost O(log n) lookups whatever the journal's length:
//   merkle_leaves  leaf hashes, 256 per chunk row, written when the chunk fills (the
//                  newest chunk's leaves are recomputed from its records, so a small
//                  commit does not rewrite them); pruned with the records they hash
//   merkle_nodes   every complete subtree of 256 leaves or more (never pruned; about
//                  0.4 bytes per record), plus the smaller subtrees a kept checkpoint
//                  needs once its leaves are pruned
//   merkle_absent  ranges of seqs the journal never held (absent leaves), so a long skip
//                  before a chain segment costs one row
#include <vector>

#include "mrv/core/merkle.hpp"
#include "sqlite.hpp"

namespace mrv {

inline constexpr unsigned kChunkLevel = 8;
inline constexpr uint64_t kChunkLeaves = uint64_t{1} << kChunkLevel;

// The writer's side: grows the tree inside the journal's open transaction.
class JournalTree {
 public:
  // Rebuilds the frontier from the stored tree (O(log n) rows).
  [[nodiscard]] Result<void> load(sqlite3* db);
  // Appends the leaf of `seq`; seqs skipped since the last one (before a chain-segment
  // record) get absent leaves, so leaf index stays seq - 1. Replaying leaves that are
  // already stored (the catch-up after load) stores nothing twice.
  [[nodiscard]] Result<void> append(uint64_t seq, const Sha256& leaf);
  // Writes the partial newest chunk: before its records may be pruned.
  [[nodiscard]] Result<void> flush();
  // Around a transaction that may roll back.
  void save();
  void restore();

  uint64_t size() const { return frontier_.size(); }
  Sha256 root() const { return frontier_.root(); }

 private:
  Result<void> push(const Sha256& leaf);
  Result<void> push_absent(uint64_t count);
  void store_node(unsigned level, uint64_t index, const Sha256& hash);  // levels >= 8
  Result<void> take_node_error();
  Result<void> write_chunk();

  sqlite3* db_ = nullptr;
  MerkleFrontier frontier_, saved_frontier_;
  std::vector<Sha256> chunk_, saved_chunk_;  // leaves of the chunk being filled
  sqlite::Statement insert_node_, upsert_chunk_;
  Error node_error_;
  bool node_failed_ = false, dirty_ = false;
};

// The read side: complete subtrees from the stored tree (for proofs and roots). Valid
// while `db` is open; call inside one read snapshot.
NodeSource stored_tree_nodes(sqlite3* db);
[[nodiscard]] Result<uint64_t> stored_tree_size(sqlite3* db);
[[nodiscard]] Result<Sha256> stored_tree_root(sqlite3* db, uint64_t size);
// Before leaf chunks first_chunk .. first_kept_chunk - 1 are deleted: stores the small
// subtrees that proofs from the checkpoints inside them need.
[[nodiscard]] Result<void> keep_checkpoint_nodes(sqlite3* db, uint64_t first_chunk,
                                                 uint64_t first_kept_chunk);

}  // namespace mrv
