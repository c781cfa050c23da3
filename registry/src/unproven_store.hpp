#pragma once
// Records a site sent without a signature of their own (checkpoint-only signing), kept
// apart from its mirror until a signed checkpoint covers them (docs/registry-api.md
// §3.3). Nothing here is served or vouched for; a newer post may replace it from any seq
// on, and a checkpoint that does not prove it drops it, so a credential holder posting
// garbage can delay such records but never get them stored as proven.
// One SQLite file per site (<site>.unproven.db), synchronous=FULL. Not thread-safe: the
// site store's lock guards it.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "mrv/core/journal.hpp"

namespace mrv::registry {

class UnprovenStore {
 public:
  [[nodiscard]] static Result<UnprovenStore> open(const std::filesystem::path& path);
  UnprovenStore(UnprovenStore&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  UnprovenStore& operator=(UnprovenStore&&) = delete;
  ~UnprovenStore();

  struct Last {
    uint64_t seq = 0;
    std::string hash_hex;
  };
  // The newest record held with seq < before_seq, or nullopt when none is.
  [[nodiscard]] Result<std::optional<Last>> last(uint64_t before_seq = UINT64_MAX);
  // Records held with seq < before_seq (all of them by default).
  [[nodiscard]] Result<uint64_t> count(uint64_t before_seq = UINT64_MAX);
  // Records with from_seq <= seq <= to_seq, in seq order.
  [[nodiscard]] Result<void> for_each(uint64_t from_seq, uint64_t to_seq,
                                      const std::function<void(MirrorRecord&&)>& fn);
  // In one transaction: drops every record with seq >= from_seq, then stores `records`.
  [[nodiscard]] Result<void> replace_from(uint64_t from_seq, std::span<const MirrorRecord> records);
  // Drops every record with seq <= seq (promoted into the mirror).
  [[nodiscard]] Result<void> drop_through(uint64_t seq);

 private:
  explicit UnprovenStore(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

}  // namespace mrv::registry
