#pragma once
// The agent's configuration: one TOML file parsed once into these typed structs and
// validated whole. Relative paths are resolved against the config file's folder.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "mrv/core/error.hpp"

namespace mrv {

enum class PointKind { cumulative, gauge };
enum class Synchronous { full, normal };          // SQLite PRAGMA synchronous in WAL mode
enum class ChainBreakPolicy { refuse, new_segment };

struct PointConfig {
  std::string id;
  std::string unit;
  PointKind kind = PointKind::gauge;
  std::string meter_serial;
  std::string accuracy_class;
  std::string calibration_valid_until;  // YYYY-MM-DD, empty when not given
};

struct JournalConfig {
  std::filesystem::path path;
  int commit_interval_ms = 50;        // longest a reading waits before its commit
  int max_batch = 4096;               // readings per transaction at most
  int queue_capacity = 65536;         // readings waiting for a commit; beyond: back-pressure
  Synchronous synchronous = Synchronous::full;
  uint64_t quota_bytes = 1024ull << 20;
  ChainBreakPolicy on_chain_break = ChainBreakPolicy::new_segment;
};

struct SigningConfig {
  std::filesystem::path key_file;
};

// A built-in source of plausible meter values, for demos and tests.
struct SimulatedSourceConfig {
  std::string name;
  int interval_ms = 1000;
  std::vector<std::string> points;  // point ids, each configured under [[points]]
};

struct Config {
  std::filesystem::path file;
  std::string text;       // the file's bytes, as hashed
  std::string hash_hex;   // SHA-256 of text: the configuration every record names
  std::string site_id;
  JournalConfig journal;
  SigningConfig signing;
  std::vector<PointConfig> points;
  std::vector<SimulatedSourceConfig> simulated_sources;

  const PointConfig* find_point(std::string_view id) const;
};

// Every error in the file, each naming file:line and the key path.
using ConfigErrors = std::vector<Error>;
[[nodiscard]] tl::expected<Config, ConfigErrors> load_config(const std::filesystem::path& file);
[[nodiscard]] tl::expected<Config, ConfigErrors> parse_config(std::string text,
                                                              const std::filesystem::path& file);

}  // namespace mrv
