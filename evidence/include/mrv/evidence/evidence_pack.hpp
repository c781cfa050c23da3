#pragma once
// The verifier's evidence pack (docs/verification.md §7): one folder a third-party
// verifier opens as it is, with the period's signed report and its renderings, the
// verifier bundle, the files the report's site records name by SHA-256 (calibration
// certificates, invoices) and a summary page that says what it all is and how to check
// it. This part decides which files go in and finds them; summary_page.hpp renders the
// page; the agent's `evidence` command writes the folder.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "mrv/core/error.hpp"
#include "mrv/report/report.hpp"

namespace mrv::evidence {

// One file a site record the report used names by its SHA-256.
struct PackDocument {
  std::string kind;          // "calibration" (its certificate), "document" or "manual-reading" (its photo)
  uint64_t seq = 0;          // of the site record
  std::string number;        // the certificate's or document's number
  std::string file_name;     // as recorded; "" for a certificate or photo (found by its hash)
  std::string sha256_hex;    // as recorded
  std::string summary;       // what the record says, for people
  std::string point;         // the calibrated point ("" for a document)
  // Filled by locate_documents:
  std::filesystem::path source;  // where it was found
  std::string pack_name;         // its name under documents/ (one per distinct file)
};

// The files the period's site records name: the certificates of the calibrations that
// decided a point's coverage, the documents a parameter summed, every other document
// whose period overlaps the report's (photos, diagrams), and the photos of manual
// readings of its points inside it; in seq order, each seq once. Errors: a used record
// missing from report.site_records, or a carried record unreadable.
[[nodiscard]] Result<std::vector<PackDocument>> documents_used(const report::Report& report);

// Finds every document in `folder` (documents by name, certificates by hash; the folder
// and its subfolders one level deep, each file hashed once) and gives each a pack name.
// Errors name the record, the expected SHA-256 and the folder: a file missing, a file
// whose SHA-256 differs (also its actual one), no folder configured while files are named.
[[nodiscard]] Result<void> locate_documents(std::vector<PackDocument>& documents,
                                            const std::filesystem::path& folder);

// SHA-256 of a file as 64 lowercase hex, read in chunks.
[[nodiscard]] Result<std::string> file_sha256_hex(const std::filesystem::path& file);

// A file name safe on Windows and in SHA256SUMS: no path, no control or reserved
// characters (each becomes '_'), not empty, not "." or "..".
std::string safe_file_name(std::string_view name);

// One file of the pack and its SHA-256 (path relative to the pack, '/'-separated).
struct PackFile {
  std::string path, sha256_hex;
  uint64_t bytes = 0;
};

// Every regular file under `dir` (recursively), sorted by path, hashed.
[[nodiscard]] Result<std::vector<PackFile>> hash_pack_files(const std::filesystem::path& dir);

// The lines of a SHA256SUMS file `sha256sum -c` reads: "<hex>  <path>\n" per file.
std::string sha256sums_text(const std::vector<PackFile>& files);

}  // namespace mrv::evidence
