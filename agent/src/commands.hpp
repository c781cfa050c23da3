#pragma once
// The subcommands of mrv-agent; each returns the process exit code.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::agent {

// Exit codes shared by every subcommand (verify adds its own, see export_file.hpp).
inline constexpr int kExitOk = 0, kExitFailure = 1, kExitUsage = 2;

int run_daemon(const std::filesystem::path& config, double duration_s);
int check_config(const std::filesystem::path& config);
int keygen(const std::filesystem::path& out, const std::string& algorithm);
int status(const std::filesystem::path& config, bool json);
struct ExportArgs {
  std::filesystem::path config, out, since_checkpoint, report;
  std::string from, to;
  std::string format = "bundle";  // bundle, ndjson, ocmf
  bool quarantine = false;
};
int export_records(const ExportArgs& args);
struct ReportArgs {
  std::filesystem::path config, out;
  std::string period;
  std::string format = "json";  // json (signed), csv, html
  bool no_upload = false;
};
int report(const ReportArgs& args);
int modbus_read(const std::filesystem::path& config, const std::string& device);
int verify(const std::filesystem::path& file, const std::vector<std::filesystem::path>& keys,
           const std::vector<std::filesystem::path>& registry_keys, const std::filesystem::path& since_checkpoint,
           bool json);

// "<what> 45% (450000/1000000)" redrawn in place on stderr when it is a terminal;
// nothing otherwise (a log file gets no carriage returns).
std::function<void(uint64_t, uint64_t)> terminal_progress(std::string what);

// Loads the config and opens its journal read-only, printing why when it cannot.
std::optional<std::pair<Config, Journal>> open_from_config(const std::filesystem::path& path);

}  // namespace mrv::agent
