#include "mrv/evidence/evidence_pack.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <map>
#include <set>

#include "mrv/core/canonical.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/site_record.hpp"

namespace mrv::evidence {
namespace {

namespace fs = std::filesystem;

std::string where_of(const PackDocument& d) { return d.kind + " seq " + std::to_string(d.seq); }

std::string what_of(const PackDocument& d) {
  if (d.kind == "calibration") return "certificate " + d.number + (d.point.empty() ? "" : " of " + d.point);
  if (d.kind == "manual-reading") return "photo of the display, " + d.number;
  return "document " + d.number + (d.file_name.empty() ? "" : ", file " + d.file_name);
}

// The record a use names, from the lines the report carries (the engine read those).
Result<SiteRecord> carried_record(const report::Report& r, uint64_t seq) {
  auto line = std::find_if(r.site_records.begin(), r.site_records.end(),
                           [seq](const RecordLine& l) { return l.seq == seq; });
  if (line == r.site_records.end())
    return fail(ErrorCode::corruption, "seq " + std::to_string(seq), "the report used this site record but does not carry it");
  auto fields = decode_record(line->record);
  if (!fields) return fail(ErrorCode::corruption, "seq " + std::to_string(seq), fields.error().to_string());
  auto record = parse_site_record(*fields);
  if (!record) return fail(ErrorCode::corruption, "seq " + std::to_string(seq), record.error().to_string());
  return record;
}

std::string member(const SiteRecord& s, const char* key) {
  auto it = s.details.find(key);
  return it == s.details.end() ? "" : it->second;
}

// The files of the folder and of its subfolders one level deep, sorted within each level
// (a file at the top wins over one of the same name below).
Result<std::vector<fs::path>> folder_files(const fs::path& folder) {
  std::error_code ec;
  if (!fs::is_directory(folder, ec))
    return fail(ErrorCode::not_found, folder.string(), "the documents folder ([monitoring] documents_dir) does not exist");
  std::vector<fs::path> top, below, subfolders;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file(ec)) top.push_back(it->path());
    else if (it->is_directory(ec)) subfolders.push_back(it->path());
  }
  if (ec) return fail(ErrorCode::io, folder.string(), ec.message());
  for (const auto& sub : subfolders)
    for (fs::directory_iterator it(sub, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) below.push_back(it->path());
  if (ec) return fail(ErrorCode::io, folder.string(), ec.message());
  std::sort(top.begin(), top.end());
  std::sort(below.begin(), below.end());
  top.insert(top.end(), below.begin(), below.end());
  return top;
}

// Hashes each file once, however many records look for it.
class HashCache {
 public:
  Result<std::string> of(const fs::path& p) {
    if (auto it = hashes_.find(p); it != hashes_.end()) return it->second;
    auto h = file_sha256_hex(p);
    if (h) hashes_.emplace(p, *h);
    return h;
  }

 private:
  std::map<fs::path, std::string> hashes_;
};

Result<fs::path> find_document(const PackDocument& d, const std::vector<fs::path>& files, const fs::path& folder,
                               HashCache& hashes) {
  std::optional<std::pair<fs::path, std::string>> changed;
  for (const auto& f : files) {
    if (f.filename().string() != d.file_name) continue;
    auto h = hashes.of(f);
    if (!h) return tl::unexpected(h.error());
    if (*h == d.sha256_hex) return f;
    if (!changed) changed.emplace(f, *h);
  }
  if (changed)
    return fail(ErrorCode::corruption, where_of(d),
                what_of(d) + ": " + changed->first.string() + " has changed: expected SHA-256 " + d.sha256_hex +
                    ", actual " + changed->second);
  return fail(ErrorCode::not_found, where_of(d),
              what_of(d) + ": missing, no file named " + d.file_name + " with SHA-256 " + d.sha256_hex + " in " +
                  folder.string() + " or its subfolders");
}

Result<fs::path> find_certificate(const PackDocument& d, const std::vector<fs::path>& files, const fs::path& folder,
                                  HashCache& hashes) {
  for (const auto& f : files) {
    auto h = hashes.of(f);
    if (!h) return tl::unexpected(h.error());
    if (*h == d.sha256_hex) return f;
  }
  return fail(ErrorCode::not_found, where_of(d),
              what_of(d) + ": missing, no file with SHA-256 " + d.sha256_hex + " in " + folder.string() +
                  " or its subfolders");
}

}  // namespace

Result<std::vector<PackDocument>> documents_used(const report::Report& report) {
  std::map<uint64_t, PackDocument> by_seq;
  auto add = [&](const report::SiteRecordUse& use, const std::string& point) -> Result<void> {
    if (by_seq.count(use.seq)) return {};
    auto s = carried_record(report, use.seq);
    if (!s) return tl::unexpected(s.error());
    PackDocument d;
    d.seq = use.seq;
    d.summary = use.summary;
    d.point = point;
    if (s->kind == SiteRecordKind::calibration) {
      d.kind = "calibration";
      d.number = member(*s, "certificate");
      d.sha256_hex = s->certificate_sha256;
    } else if (s->kind == SiteRecordKind::document) {
      d.kind = "document";
      d.number = member(*s, "number");
      d.file_name = member(*s, "file_name");
      d.sha256_hex = s->file_sha256;
    } else {
      return {};  // exchanges and notes name no file
    }
    if (!d.sha256_hex.empty()) by_seq.emplace(d.seq, std::move(d));
    return {};
  };
  std::set<std::string> points;
  for (const auto& param : report.parameters) {
    for (const auto& point : param.points) {
      points.insert(point.point_id);
      for (const auto& use : point.calibration.calibrations)
        if (auto ok = add(use, point.point_id); !ok) return tl::unexpected(ok.error());
    }
    for (const auto& use : param.documents)
      if (auto ok = add(use, ""); !ok) return tl::unexpected(ok.error());
  }
  // The period's other records that name a file: a document whose period overlaps it (a
  // photo, the monitoring structure's diagram, an invoice no parameter sums) and the photo
  // of a manual reading of a report point inside it.
  for (const RecordLine& line : report.site_records) {
    if (by_seq.count(line.seq)) continue;
    auto fields = decode_record(line.record);
    if (!fields) return fail(ErrorCode::corruption, "seq " + std::to_string(line.seq), fields.error().to_string());
    auto s = parse_site_record(*fields);
    if (!s) return fail(ErrorCode::corruption, "seq " + std::to_string(line.seq), s.error().to_string());
    PackDocument d;
    d.seq = line.seq;
    const int64_t from = report.period.start_ms, to = report.period.end_ms;
    if (s->kind == SiteRecordKind::document && s->ts_ms < to && s->period_to_ms > from) {
      d.kind = "document";
      d.number = member(*s, "number");
      d.file_name = member(*s, "file_name");
      d.sha256_hex = s->file_sha256;
      d.summary = member(*s, "document_type") + " " + d.number + " from " + member(*s, "issuer");
    } else if (s->kind == SiteRecordKind::manual_reading && s->ts_ms >= from && s->ts_ms < to && points.count(s->point)) {
      d.kind = "manual-reading";
      d.point = s->point;
      d.sha256_hex = member(*s, "photo_sha256");
      d.number = s->point + " read " + s->value + " " + s->unit + " (seq " + std::to_string(line.seq) + ")";
      d.summary = "manual reading of " + d.number;
    }
    if (!d.sha256_hex.empty()) by_seq.emplace(d.seq, std::move(d));
  }
  std::vector<PackDocument> out;
  for (auto& [seq, d] : by_seq) out.push_back(std::move(d));
  return out;
}

Result<void> locate_documents(std::vector<PackDocument>& documents, const fs::path& folder) {
  if (documents.empty()) return {};
  if (folder.empty())
    return fail(ErrorCode::config, "[monitoring] documents_dir",
                "not set, but the report's site records name " + std::to_string(documents.size()) +
                    " file(s) by SHA-256 (first: " + where_of(documents[0]) + ", " + what_of(documents[0]) +
                    "): set [monitoring] documents_dir to the folder that holds them");
  auto files = folder_files(folder);
  if (!files) return tl::unexpected(files.error());
  HashCache hashes;
  std::map<std::string, std::string> name_by_hash, hash_by_name;
  for (auto& d : documents) {
    auto found = d.file_name.empty() ? find_certificate(d, *files, folder, hashes)
                                     : find_document(d, *files, folder, hashes);
    if (!found) return tl::unexpected(found.error());
    d.source = *found;
    if (auto same = name_by_hash.find(d.sha256_hex); same != name_by_hash.end()) {
      d.pack_name = same->second;  // the same file for two records: copied once
      continue;
    }
    std::string name = safe_file_name(d.source.filename().string());
    if (hash_by_name.count(name)) name = "seq" + std::to_string(d.seq) + "-" + name;  // another file, same name
    d.pack_name = name;
    name_by_hash.emplace(d.sha256_hex, name);
    hash_by_name.emplace(name, d.sha256_hex);
  }
  return {};
}

Result<std::string> file_sha256_hex(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorCode::io, file.string(), "cannot open");
  Sha256Stream h;
  std::array<char, 64 * 1024> buf;
  while (in) {
    in.read(buf.data(), buf.size());
    if (in.gcount() > 0) h.update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) return fail(ErrorCode::io, file.string(), "read failed");
  return to_hex(h.finish());
}

std::string safe_file_name(std::string_view name) {
  std::string out;
  for (unsigned char c : name)
    out += c < 0x20 || c == 0x7f || std::string_view("<>:\"/\\|?*").find(char(c)) != std::string_view::npos ? '_' : char(c);
  while (!out.empty() && (out.back() == '.' || out.back() == ' ')) out.pop_back();  // Windows drops them
  if (out.empty()) return "file";
  // Windows reserves these names whatever the extension.
  std::string stem = out.substr(0, out.find('.'));
  std::transform(stem.begin(), stem.end(), stem.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  static const std::set<std::string> reserved = {"CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4",
                                                 "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2", "LPT3",
                                                 "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"};
  return reserved.count(stem) ? "_" + out : out;
}

Result<std::vector<PackFile>> hash_pack_files(const fs::path& dir) {
  std::vector<PackFile> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    PackFile f;
    f.path = fs::relative(it->path(), dir, ec).generic_string();
    f.bytes = it->file_size(ec);
    auto h = file_sha256_hex(it->path());
    if (!h) return tl::unexpected(h.error());
    f.sha256_hex = *h;
    out.push_back(std::move(f));
  }
  if (ec) return fail(ErrorCode::io, dir.string(), ec.message());
  std::sort(out.begin(), out.end(), [](const PackFile& a, const PackFile& b) { return a.path < b.path; });
  return out;
}

std::string sha256sums_text(const std::vector<PackFile>& files) {
  std::string out;
  for (const auto& f : files) out += f.sha256_hex + "  " + f.path + "\n";
  return out;
}

}  // namespace mrv::evidence
