#pragma once
// The subcommands of mrv-agent; each returns the process exit code.
#include <filesystem>
#include <string>
#include <vector>

namespace mrv::agent {

// Exit codes shared by every subcommand (verify adds its own, see export_file.hpp).
inline constexpr int kExitOk = 0, kExitFailure = 1, kExitUsage = 2;

int run_daemon(const std::filesystem::path& config, double duration_s);
int check_config(const std::filesystem::path& config);
int keygen(const std::filesystem::path& out, const std::string& algorithm);
int status(const std::filesystem::path& config, bool json);
int export_records(const std::filesystem::path& config, const std::string& from,
                   const std::string& to, const std::filesystem::path& out, bool quarantine);
int modbus_read(const std::filesystem::path& config, const std::string& device);
int verify(const std::filesystem::path& file, const std::vector<std::filesystem::path>& keys,
           bool json);

}  // namespace mrv::agent
