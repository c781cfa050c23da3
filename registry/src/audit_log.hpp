#pragma once
// The admins' actions, kept for good (docs/registry-api.md §8.2): a table kept
// append-only by triggers, each entry a line of JSON holding the SHA-256 of the line
// before it. Opening replays and checks the whole chain, so a table edited by hand stops
// the registry rather than changing who may do what. Two engines: a SQLite file,
// data_dir/audit.db (the default), or a PostgreSQL database ([database] in
// registry.toml); the lines are the same bytes on both.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mrv/core/error.hpp"

namespace mrv::registry {

class AuditLog {
 public:
  // Called with each entry's action, oldest first; an error stops the opening.
  using Replay = std::function<Result<void>(uint64_t seq, const nlohmann::json& action)>;

  // Opens (or creates) the log; an error names the file or server and the seq whose line
  // or link is wrong, or what replay said.
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open_sqlite(const std::filesystem::path& file,
                                                                     const Replay& replay);
  [[nodiscard]] static Result<std::unique_ptr<AuditLog>> open_postgres(const std::string& url, const Replay& replay);
  // For check-config, reading only: the database answers and its audit schema is one this
  // registry can use (or migrate). Returns what was found, e.g. "audit schema v1 of 1".
  [[nodiscard]] static Result<std::string> check_postgres(const std::string& url);
  virtual ~AuditLog() = default;

  // Appends an entry (durable when it returns) and returns its line; nullopt when its seq
  // was taken meanwhile by another registry process on the same database (or by an entry
  // whose commit this process was not told of): catch_up, check the action again, retry.
  [[nodiscard]] Result<std::optional<std::string>> append(const std::string& actor, int64_t time_ms,
                                                          const nlohmann::json& action);
  // Takes and replays the entries stored after last_seq(), checking their links as at
  // opening; returns how many.
  [[nodiscard]] Result<uint64_t> catch_up(const Replay& replay);
  // NDJSON: the entries from from_seq on, at most `max` of them.
  [[nodiscard]] virtual Result<std::string> lines(uint64_t from_seq, size_t max) = 0;
  uint64_t last_seq() const { return last_seq_; }
  const std::string& last_hash_hex() const { return last_hash_hex_; }  // of entry last_seq (zeros: none)

 protected:
  explicit AuditLog(std::string where) : where_(std::move(where)) {}
  // Takes `line` as entry `seq` if it links to the entries taken before, and replays it.
  [[nodiscard]] Result<void> take(uint64_t seq, std::string_view line, const Replay& replay);
  // Stores entry `seq` (the next one), durably; false when another line holds that seq.
  [[nodiscard]] virtual Result<bool> insert(uint64_t seq, const std::string& line) = 0;
  const std::string& where() const { return where_; }

 private:
  std::string where_;
  uint64_t last_seq_ = 0;
  std::string last_hash_hex_ = std::string(64, '0');
};

}  // namespace mrv::registry
