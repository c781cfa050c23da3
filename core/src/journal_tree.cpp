#include "journal_tree.hpp"

#include <cstring>

namespace mrv {
namespace {

std::string_view bytes_of(const Sha256* hashes, size_t count) {
  return {reinterpret_cast<const char*>(hashes), count * sizeof(Sha256)};
}

Sha256 hash_from(std::string_view blob) {
  Sha256 h{};
  std::memcpy(h.data(), blob.data(), std::min(blob.size(), h.size()));
  return h;
}

// The root of 2^level consecutive leaves.
Sha256 root_of_leaves(std::vector<Sha256> level_hashes) {
  while (level_hashes.size() > 1) {
    for (size_t i = 0; i < level_hashes.size() / 2; ++i)
      level_hashes[i] = merkle_node_hash(level_hashes[2 * i], level_hashes[2 * i + 1]);
    level_hashes.resize(level_hashes.size() / 2);
  }
  return level_hashes.front();
}

// True when every seq in [first_seq, last_seq] is in one absent range.
Result<bool> all_absent(sqlite3* db, uint64_t first_seq, uint64_t last_seq) {
  sqlite::Statement s(db, "SELECT last_seq FROM merkle_absent WHERE first_seq <= ?1 ORDER BY first_seq DESC LIMIT 1");
  s.bind(1, static_cast<int64_t>(first_seq));
  int rc = s.step();
  if (rc == SQLITE_ROW) return static_cast<uint64_t>(s.int64(0)) >= last_seq;
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read absent ranges"));
  return false;
}

// The leaf hashes of a chunk: its row, then (the newest chunk's row is written only when
// it fills or before a prune) the leaves of the records after it.
Result<std::vector<Sha256>> chunk_leaves(sqlite3* db, uint64_t chunk) {
  std::vector<Sha256> out;
  sqlite::Statement s(db, "SELECT hashes FROM merkle_leaves WHERE chunk = ?1");
  s.bind(1, static_cast<int64_t>(chunk));
  int rc = s.step();
  if (rc == SQLITE_ROW) {
    std::string_view blob = s.blob(0);
    out.resize(blob.size() / sizeof(Sha256));
    std::memcpy(out.data(), blob.data(), out.size() * sizeof(Sha256));
  } else if (rc != SQLITE_DONE) {
    return tl::unexpected(sqlite::error_of(db, rc, "read merkle leaves"));
  }
  if (out.size() == kChunkLeaves) return out;
  uint64_t first_seq = chunk * kChunkLeaves + 1;
  sqlite::Statement r(db, "SELECT seq, canonical FROM records WHERE seq > ?1 AND seq <= ?2 ORDER BY seq");
  r.bind(1, static_cast<int64_t>(first_seq - 1 + out.size())).bind(2, static_cast<int64_t>(first_seq - 1 + kChunkLeaves));
  while ((rc = r.step()) == SQLITE_ROW) {
    auto seq = static_cast<uint64_t>(r.int64(0));
    while (first_seq + out.size() < seq) out.push_back(merkle_absent_leaf());  // before a chain segment
    out.push_back(merkle_leaf_hash(r.blob(1)));
  }
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read records for merkle leaves"));
  if (out.empty()) {
    auto absent = all_absent(db, first_seq, first_seq + kChunkLeaves - 1);
    if (!absent) return tl::unexpected(absent.error());
    if (*absent) return std::vector<Sha256>(kChunkLeaves, merkle_absent_leaf());
  }
  if (out.empty())
    return fail(ErrorCode::not_found, "merkle",
                "leaf hashes of seq " + std::to_string(first_seq) + ".." + std::to_string(first_seq + kChunkLeaves - 1) +
                    " are not kept (pruned)");
  return out;
}

Result<void> insert_node(sqlite3* db, SubtreeId id, const Sha256& hash) {
  sqlite::Statement s(db, "INSERT OR IGNORE INTO merkle_nodes (level, idx, hash) VALUES (?1, ?2, ?3)");
  s.bind(1, id.level).bind(2, static_cast<int64_t>(id.index)).bind_blob(3, bytes_of(&hash, 1));
  int rc = s.step();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "store merkle node"));
  return {};
}

}  // namespace

NodeSource stored_tree_nodes(sqlite3* db) {
  return [db](SubtreeId id) -> Result<Sha256> {
    sqlite::Statement s(db, "SELECT hash FROM merkle_nodes WHERE level = ?1 AND idx = ?2");
    s.bind(1, id.level).bind(2, static_cast<int64_t>(id.index));
    int rc = s.step();
    if (rc == SQLITE_ROW) return hash_from(s.blob(0));
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read merkle node"));
    if (id.level >= kChunkLevel) {
      uint64_t first_seq = (id.index << id.level) + 1;
      auto absent = all_absent(db, first_seq, first_seq + (uint64_t{1} << id.level) - 1);
      if (!absent) return tl::unexpected(absent.error());
      if (*absent) return merkle_absent_root(id.level);  // a long skip stores no nodes
    }
    if (id.level >= kChunkLevel)
      return fail(ErrorCode::not_found, "merkle",
                  "no stored subtree at level " + std::to_string(id.level) + " index " +
                      std::to_string(id.index) + " (beyond the tree?)");
    uint64_t first_leaf = id.index << id.level;
    auto leaves = chunk_leaves(db, first_leaf / kChunkLeaves);
    if (!leaves) return tl::unexpected(leaves.error());
    uint64_t offset = first_leaf % kChunkLeaves, width = uint64_t{1} << id.level;
    if (offset + width > leaves->size())
      return fail(ErrorCode::not_found, "merkle",
                  "leaf " + std::to_string(first_leaf + width - 1) + " is beyond the tree");
    return root_of_leaves({leaves->begin() + static_cast<ptrdiff_t>(offset),
                           leaves->begin() + static_cast<ptrdiff_t>(offset + width)});
  };
}

Result<uint64_t> stored_tree_size(sqlite3* db) {
  // The tree covers every seq up to the chain's head, kept or pruned.
  sqlite::Statement s(db, "SELECT max(coalesce((SELECT max(seq) FROM records), 0), "
                          "coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'pruned_through_seq'), 0), "
                          "coalesce((SELECT chunk * 256 + length(hashes) / 32 FROM merkle_leaves "
                          "ORDER BY chunk DESC LIMIT 1), 0))");
  int rc = s.step();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(db, rc, "read tree size"));
  return static_cast<uint64_t>(s.int64(0));
}

Result<Sha256> stored_tree_root(sqlite3* db, uint64_t size) {
  if (size == 0) return merkle_empty_root();
  return merkle_range_root(stored_tree_nodes(db), 0, size);
}

Result<void> keep_checkpoint_nodes(sqlite3* db, uint64_t first_chunk, uint64_t first_kept_chunk) {
  sqlite::Statement s(db, "SELECT DISTINCT tree_size FROM checkpoints WHERE tree_size >= ?1 AND "
                          "tree_size < ?2 AND tree_size % ?3 != 0");
  s.bind(1, static_cast<int64_t>(first_chunk * kChunkLeaves))
      .bind(2, static_cast<int64_t>(first_kept_chunk * kChunkLeaves))
      .bind(3, static_cast<int64_t>(kChunkLeaves));
  std::vector<uint64_t> sizes;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) sizes.push_back(static_cast<uint64_t>(s.int64(0)));
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read checkpoints"));
  NodeSource nodes = stored_tree_nodes(db);
  for (uint64_t size : sizes) {
    // The subtrees either side of the checkpoint inside its chunk: with the stored nodes
    // of 256 leaves and more, they give any proof from or to this checkpoint.
    uint64_t chunk_begin = size / kChunkLeaves * kChunkLeaves;
    for (auto [b, e] : {std::pair{chunk_begin, size}, std::pair{size, chunk_begin + kChunkLeaves}})
      for (SubtreeId id : aligned_subtrees(b, e)) {
        auto h = nodes(id);
        if (!h) {
          if (h.error().code == ErrorCode::not_found) continue;  // already gone
          return tl::unexpected(h.error());
        }
        if (auto r = insert_node(db, id, *h); !r) return r;
      }
  }
  return {};
}

Result<void> JournalTree::load(sqlite3* db) {
  db_ = db;
  insert_node_ = sqlite::Statement(db, "INSERT OR REPLACE INTO merkle_nodes (level, idx, hash) VALUES (?1, ?2, ?3)");
  upsert_chunk_ = sqlite::Statement(db, "INSERT OR REPLACE INTO merkle_leaves (chunk, hashes) VALUES (?1, ?2)");
  sqlite::Statement last(db, "SELECT chunk, length(hashes) FROM merkle_leaves ORDER BY chunk DESC LIMIT 1");
  int rc = last.step();
  uint64_t size = 0;
  if (rc == SQLITE_ROW)
    size = static_cast<uint64_t>(last.int64(0)) * kChunkLeaves + static_cast<uint64_t>(last.int64(1)) / sizeof(Sha256);
  else if (rc != SQLITE_DONE)
    return tl::unexpected(sqlite::error_of(db, rc, "read merkle leaves"));
  NodeSource nodes = stored_tree_nodes(db);
  std::vector<Sha256> frontier_nodes;
  for (SubtreeId id : aligned_subtrees(0, size)) {
    auto h = nodes(id);
    if (!h) return tl::unexpected(h.error());
    frontier_nodes.push_back(*h);
  }
  auto f = MerkleFrontier::from_nodes(size, frontier_nodes);
  if (!f) return tl::unexpected(f.error());
  frontier_ = std::move(*f);
  chunk_.clear();
  if (size % kChunkLeaves != 0) {
    auto leaves = chunk_leaves(db, size / kChunkLeaves);
    if (!leaves) return tl::unexpected(leaves.error());
    leaves->resize(size % kChunkLeaves);  // the rest comes from the records (catch-up)
    chunk_ = std::move(*leaves);
  }
  return {};
}

void JournalTree::store_node(unsigned level, uint64_t index, const Sha256& hash) {
  if (level < kChunkLevel || node_failed_) return;
  insert_node_.bind(1, level).bind(2, static_cast<int64_t>(index)).bind_blob(3, bytes_of(&hash, 1));
  int rc = insert_node_.step();
  insert_node_.reset();
  if (rc != SQLITE_DONE) {
    node_failed_ = true;
    node_error_ = sqlite::error_of(db_, rc, "store merkle node");
  }
}

Result<void> JournalTree::take_node_error() {
  if (!node_failed_) return {};
  node_failed_ = false;
  return tl::unexpected(node_error_);
}

Result<void> JournalTree::push(const Sha256& leaf) {
  frontier_.push_leaf(leaf, [this](unsigned level, uint64_t index, const Sha256& h) { store_node(level, index, h); });
  if (auto r = take_node_error(); !r) return r;
  chunk_.push_back(leaf);
  dirty_ = true;
  if (chunk_.size() == kChunkLeaves) {
    if (auto r = write_chunk(); !r) return r;
    chunk_.clear();
  }
  return {};
}

Result<void> JournalTree::append(uint64_t seq, const Sha256& leaf) {
  if (seq <= frontier_.size())
    return fail(ErrorCode::corruption, "merkle", "seq " + std::to_string(seq) + " is already a leaf");
  uint64_t skipped = seq - 1 - frontier_.size();
  if (skipped > (uint64_t{1} << 48))
    return fail(ErrorCode::corruption, "merkle", "seq " + std::to_string(seq) + " skips " +
                                                     std::to_string(skipped) + " seqs: implausible");
  if (skipped > 0) {
    uint64_t first_absent = frontier_.size() + 1;
    // At open, the leaves after the last stored chunk are replayed from the records
    // (load, then catch-up): a skip replayed that way is already stored, whole or (when
    // the stored chunks end inside it) as part of a wider range. Store it once.
    auto stored = all_absent(db_, first_absent, seq - 1);
    if (!stored) return tl::unexpected(stored.error());
    if (!*stored) {
      sqlite::Statement s(db_, "INSERT INTO merkle_absent (first_seq, last_seq) VALUES (?1, ?2)");
      s.bind(1, static_cast<int64_t>(first_absent)).bind(2, static_cast<int64_t>(seq - 1));
      if (int rc = s.step(); rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, "store absent range"));
    }
    if (auto r = push_absent(skipped); !r) return r;
  }
  return push(leaf);
}

Result<void> JournalTree::push_absent(uint64_t count) {
  static const Sha256 absent = merkle_absent_leaf();
  // Leaf by leaf up to a chunk boundary, then whole aligned subtrees of absent leaves
  // (neither their leaves nor their nodes are stored: the read side knows them from
  // merkle_absent), then leaf by leaf again.
  while (count > 0 && (frontier_.size() % kChunkLeaves != 0 || count < kChunkLeaves)) {
    if (auto r = push(absent); !r) return r;
    --count;
  }
  while (count >= kChunkLeaves) {
    unsigned level = kChunkLevel;
    while (level < 62 && frontier_.size() % (uint64_t{2} << level) == 0 && (uint64_t{2} << level) <= count) ++level;
    (void)frontier_.push_subtree(level, merkle_absent_root(level),
                                 [this](unsigned l, uint64_t index, const Sha256& h) { store_node(l, index, h); });
    if (auto r = take_node_error(); !r) return r;
    count -= uint64_t{1} << level;
  }
  while (count > 0) {
    if (auto r = push(absent); !r) return r;
    --count;
  }
  return {};
}

Result<void> JournalTree::write_chunk() {
  upsert_chunk_.bind(1, static_cast<int64_t>((frontier_.size() - 1) / kChunkLeaves))
      .bind_blob(2, bytes_of(chunk_.data(), chunk_.size()));
  int rc = upsert_chunk_.step();
  upsert_chunk_.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db_, rc, "store merkle leaves"));
  dirty_ = false;
  return {};
}

Result<void> JournalTree::flush() {
  if (!dirty_ || chunk_.empty()) return {};
  return write_chunk();
}

void JournalTree::save() {
  saved_frontier_ = frontier_;
  saved_chunk_ = chunk_;
}

void JournalTree::restore() {
  frontier_ = saved_frontier_;
  chunk_ = saved_chunk_;
  dirty_ = !chunk_.empty();
}

}  // namespace mrv
