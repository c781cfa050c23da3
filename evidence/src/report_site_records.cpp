#include "report_site_records.hpp"

#include "mrv/core/canonical.hpp"
#include "mrv/core/text_limits.hpp"

namespace mrv::evidence {

ReportSiteRecords::ReportSiteRecords(const report::SignedReport& report, std::span<const PublicKey> trusted,
                                     BundleScope scope, Failure failure, std::vector<std::string>& notes)
    : scope_(std::move(scope)), through_seq_(report.site_records_through), failure_(std::move(failure)), notes_(notes) {
  const auto& lines = report.site_records;
  if (lines.size() > kMaxReportSiteRecords) {
    fail("report.json: it carries " + std::to_string(lines.size()) + " site records, more than the " +
         std::to_string(kMaxReportSiteRecords) + " a verifier reads (docs/limits.md)");
    return;
  }
  uint64_t previous = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    // In seq order, each once: the engine takes them so, and a seq maps to one record.
    if (i > 0 && lines[i].seq <= previous) {
      fail("report.json site_records line " + std::to_string(i + 1) + " (seq " + std::to_string(lines[i].seq) +
           "): seqs do not increase");
      return;
    }
    previous = lines[i].seq;
    check_line(i, lines[i], trusted);
  }
}

void ReportSiteRecords::check_line(size_t index, const RecordLine& line, std::span<const PublicKey> trusted) {
  const uint64_t seq = line.seq;
  std::string where = "report.json site_records line " + std::to_string(index + 1) + " (seq " + std::to_string(seq) + ")";
  std::string hash = to_hex(sha256(line.record));
  if (hash != line.hash_hex) return fail(where + ": hash is not the SHA-256 of its record");
  bool in_range = scope_.last_seq > 0 && scope_.first_seq <= seq && seq <= scope_.last_seq;
  lines_[seq] = Line{hash, in_range, false};
  if (auto shallow = check_json_limits(line.record); !shallow)
    return fail(where + ": its record: " + shallow.error().message);
  auto f = decode_record(line.record);
  if (!f) return fail(where + ": its record does not decode: " + f.error().message);
  if (f->seq != seq) return fail(where + ": its record says seq " + std::to_string(f->seq));
  if (f->type != RecordType::site_record)
    return fail(where + ": a " + std::string(to_string(f->type)) + " record, not a site-record");
  if (f->site_id != scope_.site) return fail(where + ": site '" + f->site_id + "' is not the bundle's");
  if (seq > through_seq_)
    return fail(where + ": after the report's site_records.through_seq " + std::to_string(through_seq_));
  const PublicKey* key = nullptr;
  for (const PublicKey& k : trusted)
    if (k.key_id_hex() == f->key_id_hex) key = &k;
  if (!key) return fail(where + ": signed by key " + f->key_id_hex + ", not a trusted key");
  if (f->algorithm == kCheckpointOnlyAlg) {
    // No signature of its own: a checkpoint proves it, and only the bundle's tree can show
    // that (its bytes must then be the range's record at its seq, on_range_record).
    if (!line.signature_b64.empty()) return fail(where + ": a checkpoint-only record carries a signature");
    if (!in_range)
      notes_.push_back("report.json site record seq " + std::to_string(seq) +
                       " is checkpoint-only (alg checkpoint) and outside the bundle's records: it rests on the "
                       "report's signature");
  } else {
    if (to_string(key->algorithm()) != f->algorithm)
      return fail(where + ": alg " + f->algorithm + " is not the algorithm of key " + f->key_id_hex);
    auto signature = from_base64(line.signature_b64);
    if (!signature || !key->verify(line.record, *signature))
      return fail(where + ": its signature does not verify with a trusted key");
  }
  verified_.push_back(std::move(*f));
}

void ReportSiteRecords::on_range_record(const RecordFields& record, std::string_view canonical) {
  auto it = lines_.find(record.seq);
  if (it != lines_.end()) {
    if (record.type != RecordType::site_record || to_hex(sha256(canonical)) != it->second.hash_hex)
      return fail("report.json: the report carries a different site record at seq " + std::to_string(record.seq) +
                  " than the bundle's records hold");
    it->second.matched = true;
    return;
  }
  if (record.type == RecordType::site_record && record.seq <= through_seq_)
    fail("report.json: the report leaves out site record seq " + std::to_string(record.seq) +
         ", which the bundle's records hold (its site_records.through_seq is " + std::to_string(through_seq_) + ")");
}

void ReportSiteRecords::finish() {
  for (const auto& [seq, line] : lines_)
    if (line.in_range && !line.matched)
      return fail("report.json: its site record seq " + std::to_string(seq) + " is not among the bundle's records");
}

}  // namespace mrv::evidence
