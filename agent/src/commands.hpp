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
// The journal options a config gives (the head witnesses aside), for run and record.
JournalOptions journal_options_of(const Config& config);
int check_config(const std::filesystem::path& config);
int keygen(const std::filesystem::path& out, const std::string& algorithm, bool tpm, const std::string& tcti);
// tpm-activate: the registry binds the TPM key's attestation key to the TPM's EK
// (docs/verification.md §8.5) (cmd_tpm_activate.cpp).
int tpm_activate(const std::filesystem::path& config);
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
// evidence: the verifier's evidence pack of one period, a folder (cmd_evidence.cpp).
struct EvidenceArgs {
  std::filesystem::path config, out;
  std::string period;
  bool force = false;  // replace an existing non-empty folder
};
int evidence_pack(const EvidenceArgs& args);
// record: a person's site record (docs/record-format.md §1.6), entered through the
// running agent or, with none running, into the journal directly (cmd_record.cpp).
struct RecordArgs {
  std::filesystem::path config;
  std::string kind;  // manual-reading, meter-exchange, calibration, document, note
  std::string point, meter, at, value, unit, serial, comment, by, id;
  std::string old_serial, old_final, new_serial, new_initial;                        // meter-exchange
  std::string laboratory, certificate_number, error_percent, result, next_due;       // calibration
  std::filesystem::path certificate, file, photo;
  std::string type, number, issuer, from, to, quantity, parameter;                   // document (to: also a note's)
  std::string text;                                                                  // note
};
int record(const RecordArgs& args);
// record list: the site records of the journal, read-only (cmd_record_list.cpp).
int record_list(const std::filesystem::path& config, const std::string& kind);
int modbus_read(const std::filesystem::path& config, const std::string& device);
int verify(const std::filesystem::path& file, const std::vector<std::filesystem::path>& keys,
           const std::vector<std::filesystem::path>& registry_keys, const std::filesystem::path& since_checkpoint,
           bool json, const std::filesystem::path& tpm_ca,
           bool require_cosigned);

// "<what> 45% (450000/1000000)" redrawn in place on stderr when it is a terminal;
// nothing otherwise (a log file gets no carriage returns).
std::function<void(uint64_t, uint64_t)> terminal_progress(std::string what);

// Loads the config and opens its journal read-only, printing why when it cannot.
std::optional<std::pair<Config, Journal>> open_from_config(const std::filesystem::path& path);

}  // namespace mrv::agent
