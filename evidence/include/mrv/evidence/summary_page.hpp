#pragma once
// The evidence pack's index.html (docs/verification.md §7): the verification summary a
// third-party verifier reads first. One self-contained HTML5 page (no script, no outside
// resource) that prints on A4: the project, site and period, the credited tonnes, the
// key that signed and how it is pinned, the checkpoint the report rests on, coverage,
// gaps, calibration and corrections per point, the cross-checks, the documents with
// their SHA-256, every file of the pack, and how to check it all again. Every text from
// the config or the records is escaped. Pure: prints only what it is given.
#include <cstdint>
#include <string>
#include <vector>

#include "mrv/evidence/evidence_pack.hpp"
#include "mrv/report/report.hpp"

namespace mrv::evidence {

// A public key that signed the records, the report or the bundle's manifest.
struct PackKey {
  std::string key_id_hex;  // SHA-256 of its DER SubjectPublicKeyInfo: also its fingerprint
  std::string algorithm;
  std::string pem;
  std::string pack_path;   // its PEM file in the pack ("keys/….pem")
  bool signs_report = false;
};

struct SummaryInputs {
  const report::Report* report = nullptr;
  std::string signed_report_sha256_hex;
  std::vector<PackKey> keys;
  // The registry's receipts: the journal keeps the highest seq the registry receipted.
  std::string upload_url;      // "" when [upload] is not configured
  uint64_t upload_cursor = 0;
  std::vector<PackDocument> documents;
  std::vector<PackFile> files;  // the pack's files but index.html and SHA256SUMS
  int64_t generated_ms = 0;
};

std::string render_summary_page(const SummaryInputs& in);

}  // namespace mrv::evidence
