#pragma once
// The admins' actions, kept for good (docs/registry-api.md §8.2): one SQLite file,
// data_dir/audit.db, a table that triggers keep append-only, each entry a line of JSON
// holding the SHA-256 of the line before it. Opening replays and checks the whole chain,
// so a file edited by hand stops the registry rather than changing who may do what.
#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mrv/core/error.hpp"

namespace mrv::registry {

class AuditLog {
 public:
  // Opens (or creates) the file and calls `replay` with each entry's action, oldest first;
  // an error names the file and the seq whose line or link is wrong, or what replay said.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open(
      const std::filesystem::path& file, const std::function<Result<void>(uint64_t seq, const nlohmann::json& action)>& replay);
  ~AuditLog();

  // Appends an entry (durable when it returns) and returns its line.
  [[nodiscard]] Result<std::string> append(const std::string& actor, int64_t time_ms, const nlohmann::json& action);
  // NDJSON: the entries from from_seq on, at most `max` of them.
  [[nodiscard]] Result<std::string> lines(uint64_t from_seq, size_t max) const;
  uint64_t last_seq() const { return last_seq_; }

 private:
  AuditLog(sqlite3* db, std::filesystem::path file) : db_(db), file_(std::move(file)) {}
  sqlite3* db_;
  std::filesystem::path file_;
  uint64_t last_seq_ = 0;
  std::string last_hash_hex_ = std::string(64, '0');
};

}  // namespace mrv::registry
