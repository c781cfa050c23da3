// evidence: the verifier's evidence pack of one period (docs/verification.md §7), a
// folder a third-party verifier opens as it is. Every document is found and checked
// before anything is written; the folder is built aside (DIR.tmp-XXXXXX) and renamed
// into place at the end, so a failure leaves nothing half-written.
#include <stdlib.h>

#include <algorithm>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "mrv/agent/report_builder.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/evidence/evidence_pack.hpp"
#include "mrv/evidence/summary_page.hpp"
#include "mrv/report/csv.hpp"
#include "mrv/report/html.hpp"
#include "mrv/report/xlsx.hpp"

namespace mrv::agent {
namespace {

namespace fs = std::filesystem;

// Removes the folder being built unless it was renamed into place.
struct Staging {
  fs::path dir;
  bool kept = false;
  ~Staging() {
    if (kept || dir.empty()) return;
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

Result<void> write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return fail(ErrorCode::io, path.string(), "cannot write");
  return {};
}

bool refuse_existing(const fs::path& out, bool force) {
  std::error_code ec;
  if (!fs::exists(out, ec)) return false;
  if (!fs::is_directory(out, ec)) {
    std::cerr << out.string() << ": exists and is not a folder\n";
    return true;
  }
  if (!force && !fs::is_empty(out, ec)) {
    std::cerr << out.string() << ": the folder exists and is not empty (--force replaces it)\n";
    return true;
  }
  return false;
}

// The keys that signed the journal's records, and the agent's, as PEM files in keys/.
Result<std::vector<evidence::PackKey>> write_keys(Journal& journal, const Signer& signer, const fs::path& dir) {
  auto stored = journal.public_keys();
  if (!stored) return tl::unexpected(stored.error());
  std::vector<evidence::PackKey> keys;
  bool signer_listed = false;
  for (const auto& k : *stored) {
    bool is_signer = k.key_id_hex == signer.key_id_hex();
    signer_listed = signer_listed || is_signer;
    keys.push_back({k.key_id_hex, k.algorithm, k.pem, "", is_signer});
  }
  if (!signer_listed)
    keys.push_back({signer.key_id_hex(), std::string(to_string(signer.algorithm())), signer.public_pem(), "", true});
  fs::create_directory(dir / "keys");
  for (auto& k : keys) {
    k.pack_path = "keys/" + k.key_id_hex.substr(0, 16) + ".pem";
    if (auto ok = write_file(dir / k.pack_path, k.pem); !ok) return tl::unexpected(ok.error());
  }
  return keys;
}

Result<void> copy_documents(const std::vector<evidence::PackDocument>& docs, const fs::path& dir) {
  if (docs.empty()) return {};
  fs::create_directory(dir / "documents");
  for (const auto& d : docs) {
    fs::path to = dir / "documents" / d.pack_name;
    std::error_code ec;
    if (fs::exists(to, ec)) continue;  // the same file for another record
    fs::copy_file(d.source, to, ec);
    if (ec) return fail(ErrorCode::io, d.source.string(), "cannot copy into the pack: " + ec.message());
    // Checked again as copied: the file may have changed since it was found.
    auto h = evidence::file_sha256_hex(to);
    if (!h) return tl::unexpected(h.error());
    if (*h != d.sha256_hex)
      return fail(ErrorCode::corruption, d.kind + " seq " + std::to_string(d.seq),
                  d.source.string() + " has changed: expected SHA-256 " + d.sha256_hex + ", actual " + *h);
  }
  return {};
}

// Moves the built folder to `out`, replacing what is there (refuse_existing allowed it).
Result<void> put_in_place(const fs::path& built, const fs::path& out) {
  std::error_code ec;
  fs::path old;
  if (fs::exists(out, ec)) {
    old = out;
    old += ".old-" + built.filename().string().substr(built.filename().string().rfind('-') + 1);
    fs::rename(out, old, ec);
    if (ec) return fail(ErrorCode::io, out.string(), "cannot move the old folder aside: " + ec.message());
  }
  fs::rename(built, out, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, out, ec);
    return fail(ErrorCode::io, out.string(), "cannot rename the pack into place: " + ec.message());
  }
  if (!old.empty()) fs::remove_all(old, ec);
  return {};
}

int failed(const Error& e) {
  std::cerr << "evidence: " << e.to_string() << "\n";
  return kExitFailure;
}

}  // namespace

int evidence_pack(const EvidenceArgs& args) {
  fs::path out = args.out.lexically_normal();
  if (out.filename().empty()) out = out.parent_path();  // "pack/" names the folder "pack"
  if (refuse_existing(out, args.force)) return kExitFailure;
  auto opened = open_from_config(args.config);
  if (!opened) return kExitFailure;
  auto& [config, journal] = *opened;
  std::cerr << "evidence: the report of " << args.period << "\n";
  auto built = build_signed_report(journal, config, args.period, terminal_progress("reading records"));
  if (!built) return failed(built.error());
  const report::Report& report = built->report;
  const std::string& signed_json = built->json;

  // Every document found and checked before anything is written.
  auto docs = evidence::documents_used(report);
  if (!docs) return failed(docs.error());
  if (auto found = evidence::locate_documents(*docs, config.monitoring.documents_dir); !found)
    return failed(found.error());
  std::cerr << "evidence: " << docs->size() << " document(s) found and checked"
            << (docs->empty() ? "" : " in " + config.monitoring.documents_dir.string()) << "\n";

  Staging staging;
  std::string pattern = (out.parent_path().empty() ? fs::path(".") : out.parent_path()) / out.filename();
  pattern += ".tmp-XXXXXX";
  if (!::mkdtemp(pattern.data())) return failed(Error{ErrorCode::io, pattern, "cannot create the folder"});
  staging.dir = pattern;
  const fs::path& dir = staging.dir;
  std::error_code mode_ec;  // mkdtemp makes it 0700; a pack is for others to read
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec, mode_ec);

  std::string report_sha256 = to_hex(sha256(signed_json));
  if (auto ok = write_file(dir / "report.json", signed_json); !ok) return failed(ok.error());
  if (auto ok = write_file(dir / "report.html", report::render_html(report)); !ok) return failed(ok.error());
  if (auto ok = write_file(dir / "report.csv", report::render_csv(report)); !ok) return failed(ok.error());
  if (auto ok = report::write_xlsx(report, report_sha256, dir / "report.xlsx"); !ok) return failed(ok.error());

  // The bundle as `export --report` makes it, from the signed report just written.
  std::cerr << "evidence: the verifier bundle\n";
  ExportArgs ea;
  ea.config = args.config;
  ea.report = dir / "report.json";
  ea.out = dir / "bundle.tar.gz";
  if (int code = export_records(ea); code != kExitOk) return code;

  auto keys = write_keys(journal, built->signer, dir);
  if (!keys) return failed(keys.error());
  if (auto ok = copy_documents(*docs, dir); !ok) return failed(ok.error());

  std::cerr << "evidence: hashing the pack\n";
  auto files = evidence::hash_pack_files(dir);
  if (!files) return failed(files.error());
  evidence::SummaryInputs in;
  in.report = &report;
  in.signed_report_sha256_hex = report_sha256;
  in.keys = std::move(*keys);
  in.upload_url = config.upload.url;
  if (auto stats = journal.stats(); stats) in.upload_cursor = stats->upload_cursor;
  in.documents = *docs;
  in.files = *files;
  in.generated_ms = utc_now_ms();
  if (auto ok = write_file(dir / "index.html", evidence::render_summary_page(in)); !ok) return failed(ok.error());
  auto index_sha256 = evidence::file_sha256_hex(dir / "index.html");
  if (!index_sha256) return failed(index_sha256.error());
  files->push_back({"index.html", *index_sha256, 0});
  std::sort(files->begin(), files->end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  if (auto ok = write_file(dir / "SHA256SUMS", evidence::sha256sums_text(*files)); !ok) return failed(ok.error());

  if (auto ok = put_in_place(dir, out); !ok) return failed(ok.error());
  staging.kept = true;
  std::cerr << "evidence " << report.period.name << ": credited " << report.credited_tco2 << " tCO2, "
            << docs->size() << " document(s), " << files->size() + 1 << " files -> " << out.string() << "\n";
  return kExitOk;
}

}  // namespace mrv::agent
