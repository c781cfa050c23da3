#include "mrv/evidence/export_file.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/chain_verifier.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/record_line.hpp"

namespace mrv::evidence {

Result<ExportSummary> write_export(Journal& journal, const std::string& site_id, int64_t from_ms,
                                   int64_t to_ms, const std::filesystem::path& out) {
  std::filesystem::path tmp = out.string() + ".tmp";
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  if (!file) return fail(ErrorCode::io, tmp.string(), "cannot create export file");
  ExportSummary summary;
  // One snapshot: the running agent may commit or prune while we read.
  auto written = journal.read_snapshot([&]() -> Result<void> {
    auto range = journal.seq_range_for_time(from_ms, to_ms);
    if (!range) return tl::unexpected(range.error());
    auto keys = journal.public_keys();
    if (!keys) return tl::unexpected(keys.error());
    if (*range) summary = {(*range)->first, (*range)->second, 0};
    nlohmann::json header = {{"format", "mrv-export/1"}, {"site", site_id},
                             {"from_ms", from_ms}, {"to_ms", to_ms},
                             {"first_seq", summary.first_seq}, {"last_seq", summary.last_seq},
                             {"exported_ms", utc_now_ms()}, {"keys", nlohmann::json::array()}};
    for (const auto& k : *keys)
      header["keys"].push_back(
          {{"key_id", k.key_id_hex}, {"algorithm", k.algorithm}, {"public_key_pem", k.pem}});
    file << header.dump() << '\n';
    if (!*range) return {};
    std::string line;
    return journal.for_each_record(summary.first_seq, summary.last_seq, [&](const StoredRecord& rec) {
      line.clear();
      append_record_line(line, rec.seq, rec.canonical, rec.hash, rec.signature);
      file << line;
      ++summary.records;
    });
  });
  if (!written) file.setstate(std::ios::failbit);  // commit_file removes the partial file
  auto committed = commit_file(file, tmp, out);
  if (!written) return tl::unexpected(written.error());
  if (!committed) return tl::unexpected(committed.error());
  return summary;
}

Result<uint64_t> write_quarantine_export(Journal& journal, int64_t from_ms, int64_t to_ms,
                                         const std::filesystem::path& out) {
  auto rows = journal.quarantine(from_ms, to_ms, SIZE_MAX >> 1);
  if (!rows) return tl::unexpected(rows.error());
  std::filesystem::path tmp = out.string() + ".tmp";
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  for (const auto& q : *rows) file << quarantine_line(q);
  if (auto r = commit_file(file, tmp, out); !r) return tl::unexpected(r.error());
  return rows->size();
}

std::string quarantine_line(const QuarantineRow& q) {
  return nlohmann::json{{"id", q.id},          {"received_ms", q.received_ms},
                        {"source", q.source},  {"subscription", q.subscription},
                        {"topic", q.topic},    {"reason", q.reason},
                        {"detail", q.detail},  {"payload_b64", to_base64(q.payload)}}
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

Result<void> commit_file(std::ofstream& file, const std::filesystem::path& tmp, const std::filesystem::path& out) {
  file.close();
  std::error_code ec;
  if (!file) {
    std::filesystem::remove(tmp, ec);
    return fail(ErrorCode::io, tmp.string(), "write failed (disk full?)");
  }
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail(ErrorCode::io, out.string(), ec.message());
  return {};
}

VerifyReport verify_export(std::istream& in, std::span<const PublicKey> pinned) {
  VerifyReport report;
  ChainVerifier verifier(pinned);
  std::string line;
  size_t line_no = 0;
  auto failure = [&](uint64_t seq, const std::string& why) {
    report.failure = "line " + std::to_string(line_no) +
                     (seq ? " (seq " + std::to_string(seq) + ")" : std::string()) + ": " + why;
    report.records = verifier.records();
    report.first_seq = verifier.first_seq();
    report.last_seq = verifier.last_seq();
    report.declared_breaks = verifier.declared_breaks();
    return report;
  };
  if (pinned.empty()) return failure(0, "no public key pinned: nothing to verify against");
  if (!std::getline(in, line)) return failure(0, "empty file: no export header");
  ++line_no;
  auto header = nlohmann::json::parse(line, nullptr, false);
  auto header_seq = [&](const char* name) -> std::optional<uint64_t> {
    if (!header.is_object() || !header.contains(name) || !header[name].is_number_unsigned())
      return std::nullopt;
    return header[name].get<uint64_t>();
  };
  if (!header.is_object() || !header.contains("format") || header["format"] != "mrv-export/1" ||
      !header_seq("first_seq") || !header_seq("last_seq"))
    return failure(0, "not an mrv-export/1 header");

  while (std::getline(in, line)) {
    ++line_no;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() ||
        !j.contains("record") || !j["record"].is_string() || !j.contains("hash") ||
        !j["hash"].is_string() || !j.contains("signature") || !j["signature"].is_string())
      return failure(0, "not a record line (seq, record, hash, signature)");
    uint64_t seq = j["seq"].get<uint64_t>();
    auto sig = from_base64(j["signature"].get<std::string>());
    if (!sig) return failure(seq, "signature is not base64");
    auto ok = verifier.check(seq, j["record"].get<std::string>(), j["hash"].get<std::string>(), *sig);
    if (!ok) return failure(seq, ok.error().message);
    if (verifier.checkpoint_only_records() > 0)
      return failure(seq, "the record has no signature of its own (checkpoint-only signing): "
                          "export a bundle and verify that, with its checkpoints");
  }
  line_no = 1;
  if (*header_seq("first_seq") != verifier.first_seq() || *header_seq("last_seq") != verifier.last_seq())
    return failure(0, "header names seq " + std::to_string(*header_seq("first_seq")) + ".." +
                          std::to_string(*header_seq("last_seq")) + " but the records hold " +
                          std::to_string(verifier.first_seq()) + ".." +
                          std::to_string(verifier.last_seq()) + " (records missing at an end?)");
  report.records = verifier.records();
  report.first_seq = verifier.first_seq();
  report.last_seq = verifier.last_seq();
  report.declared_breaks = verifier.declared_breaks();
  return report;
}

}  // namespace mrv::evidence
