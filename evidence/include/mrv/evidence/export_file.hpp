#pragma once
// The NDJSON export (docs/record-format.md): a header line with the site and its public
// keys, then one line per record with its canonical bytes, hash and signature.
// write_export writes what a journal holds; verify_export checks a file without
// trusting anything in it but the keys the verifier pins.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::evidence {

struct ExportSummary {
  uint64_t first_seq = 0, last_seq = 0, records = 0;
};

// Writes the records of the contiguous seq range holding every reading with
// from_ms <= ts_ms < to_ms to `out` (through a temporary file and a rename).
[[nodiscard]] Result<ExportSummary> write_export(Journal& journal, const std::string& site_id,
                                                 int64_t from_ms, int64_t to_ms,
                                                 const std::filesystem::path& out);

// Writes the quarantined messages received in [from_ms, to_ms) as NDJSON, one object per
// message with its raw payload in base64. Returns how many.
[[nodiscard]] Result<uint64_t> write_quarantine_export(Journal& journal, int64_t from_ms,
                                                       int64_t to_ms,
                                                       const std::filesystem::path& out);

struct VerifyReport {
  uint64_t records = 0, first_seq = 0, last_seq = 0;  // of the records that verified
  std::vector<std::string> declared_breaks;  // chain-segment records: "seq N: reason"
  std::optional<std::string> failure;        // the first failure, naming line and seq
  bool ok() const { return !failure; }
};

// Checks every line against the keys the verifier pinned out of band; the keys the file
// carries are never trusted. Never throws, whatever the input.
VerifyReport verify_export(std::istream& in, std::span<const PublicKey> pinned);

// One quarantined message as a JSON line, its raw payload in base64.
std::string quarantine_line(const QuarantineRow& row);

// Closes `file` (written at `tmp`) and renames it to `out`; on any write error removes it
// instead, so a reader never sees a half-written export.
[[nodiscard]] Result<void> commit_file(std::ofstream& file, const std::filesystem::path& tmp,
                                       const std::filesystem::path& out);

// Exit codes of `verify`: 0 all holds, 1 a check failed, 3 all holds but the chain has
// declared breaks (chain-segment records) a verifier must look at.
inline constexpr int kVerifyOk = 0, kVerifyFailed = 1, kVerifyDeclaredBreaks = 3;

}  // namespace mrv::evidence
