#include "mrv/agent/export_file.hpp"

#include <charconv>
#include <ctime>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/clock.hpp"

namespace mrv::agent {

Result<ExportSummary> write_export(Journal& journal, const std::string& site_id, int64_t from_ms,
                                   int64_t to_ms, const std::filesystem::path& out) {
  auto range = journal.seq_range_for_time(from_ms, to_ms);
  if (!range) return tl::unexpected(range.error());
  auto keys = journal.public_keys();
  if (!keys) return tl::unexpected(keys.error());
  ExportSummary summary;
  if (*range) summary = {(*range)->first, (*range)->second, 0};

  nlohmann::json header = {{"format", "mrv-export/1"}, {"site", site_id},
                           {"from_ms", from_ms},       {"to_ms", to_ms},
                           {"first_seq", summary.first_seq}, {"last_seq", summary.last_seq},
                           {"exported_ms", utc_now_ms()},   {"keys", nlohmann::json::array()}};
  for (const auto& k : *keys)
    header["keys"].push_back(
        {{"key_id", k.key_id_hex}, {"algorithm", k.algorithm}, {"public_key_pem", k.pem}});

  std::filesystem::path tmp = out.string() + ".tmp";
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  if (!file) return fail(ErrorCode::io, tmp.string(), "cannot create export file");
  file << header.dump() << '\n';
  std::string line;
  if (*range) {
    auto r = journal.for_each_record(summary.first_seq, summary.last_seq,
                                     [&](const StoredRecord& rec) {
                                       line = "{\"seq\":" + std::to_string(rec.seq) + ",\"record\":";
                                       append_json_string(line, rec.canonical);
                                       line += ",\"hash\":\"" + to_hex(rec.hash) +
                                               "\",\"signature\":\"" + to_base64(rec.signature) +
                                               "\"}\n";
                                       file << line;
                                       ++summary.records;
                                     });
    if (!r) return tl::unexpected(r.error());
  }
  file.flush();
  if (!file) return fail(ErrorCode::io, tmp.string(), "write failed (disk full?)");
  file.close();
  std::error_code ec;
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail(ErrorCode::io, out.string(), ec.message());
  return summary;
}

VerifyReport verify_export(std::istream& in, const std::vector<PublicKey>& pinned) {
  VerifyReport report;
  std::string line;
  size_t line_no = 0;
  auto failure = [&](uint64_t seq, const std::string& why) {
    report.failure = "line " + std::to_string(line_no) +
                     (seq ? " (seq " + std::to_string(seq) + ")" : std::string()) + ": " + why;
    return report;
  };
  if (!std::getline(in, line)) return failure(0, "empty file: no export header");
  ++line_no;
  auto header = nlohmann::json::parse(line, nullptr, false);
  if (!header.is_object() || header.value("format", "") != "mrv-export/1")
    return failure(0, "not an mrv-export/1 header");

  std::vector<PublicKey> file_keys;
  const std::vector<PublicKey>* keys = &pinned;
  if (pinned.empty()) {
    report.keys_from_file = true;
    for (const auto& k : header.value("keys", nlohmann::json::array())) {
      auto key = PublicKey::from_pem(k.value("public_key_pem", ""));
      if (key) file_keys.push_back(std::move(*key));
    }
    keys = &file_keys;
  }
  std::map<std::string, const PublicKey*> by_id;
  for (const auto& k : *keys) by_id[k.key_id_hex()] = &k;

  uint64_t prev_seq = 0;
  std::string prev_hash;
  while (std::getline(in, line)) {
    ++line_no;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j["seq"].is_number_unsigned() || !j["record"].is_string() ||
        !j["hash"].is_string() || !j["signature"].is_string())
      return failure(0, "not a record line (seq, record, hash, signature)");
    uint64_t seq = j["seq"].get<uint64_t>();
    const std::string bytes = j["record"].get<std::string>();
    std::string hash = to_hex(sha256(bytes));
    if (hash != j["hash"].get<std::string>()) return failure(seq, "hash does not match the record");
    auto f = decode_record(bytes);
    if (!f) return failure(seq, "record: " + f.error().to_string());
    if (f->seq != seq) return failure(seq, "record says seq " + std::to_string(f->seq));
    auto key = by_id.find(f->key_id_hex);
    if (key == by_id.end()) return failure(seq, "signed by key " + f->key_id_hex + ", not a pinned key");
    auto sig = from_base64(j["signature"].get<std::string>());
    if (!sig || !key->second->verify(bytes, *sig)) return failure(seq, "bad signature");
    if (f->type == RecordType::chain_segment) {
      if (report.records > 0 && seq <= prev_seq) return failure(seq, "seq does not increase");
      report.declared_breaks.push_back("seq " + std::to_string(seq) + ": " + f->reading.reason);
    } else if (report.records == 0) {
      if (seq == 1 && f->prev_hash_hex != kGenesisPrevHash)
        return failure(seq, "the first record's prev is not all zeros");
    } else {
      if (seq != prev_seq + 1)
        return failure(seq, "sequence gap or reorder: expected seq " + std::to_string(prev_seq + 1));
      if (f->prev_hash_hex != prev_hash)
        return failure(seq, "prev does not match the hash of seq " + std::to_string(prev_seq));
    }
    if (report.records == 0) report.first_seq = seq;
    prev_seq = seq;
    prev_hash = std::move(hash);
    ++report.records;
  }
  report.last_seq = prev_seq;
  line_no = 1;
  if (header.value("first_seq", uint64_t{0}) != report.first_seq ||
      header.value("last_seq", uint64_t{0}) != report.last_seq)
    return failure(0, "header names seq " + std::to_string(header.value("first_seq", uint64_t{0})) +
                          ".." + std::to_string(header.value("last_seq", uint64_t{0})) +
                          " but the records hold " + std::to_string(report.first_seq) + ".." +
                          std::to_string(report.last_seq) + " (records missing at an end?)");
  return report;
}

Result<int64_t> parse_time_ms(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_argument, std::string(text),
                "not a time (YYYY-MM-DD, RFC 3339 like 2026-11-25T10:00:00Z, or epoch ms)");
  };
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t ms = 0;
    std::from_chars(text.data(), text.data() + text.size(), ms);
    return ms;
  }
  std::string s(text);
  tm t{};
  int millis = 0, off_h = 0, off_m = 0;
  char sign = 'Z';
  int consumed = 0;
  if (s.size() == 10) {
    if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &t.tm_year, &t.tm_mon, &t.tm_mday, &consumed) != 3 ||
        consumed != 10)
      return bad();
  } else {
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &t.tm_year, &t.tm_mon, &t.tm_mday,
                    &t.tm_hour, &t.tm_min, &t.tm_sec, &consumed) != 6)
      return bad();
    std::string_view rest = std::string_view(s).substr(static_cast<size_t>(consumed));
    if (!rest.empty() && rest[0] == '.') {
      size_t digits = 1;
      while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
      std::string frac(rest.substr(1, digits - 1));
      frac.resize(3, '0');
      millis = std::stoi(frac);
      rest = rest.substr(digits);
    }
    if (rest == "Z" || rest == "z") {
      sign = 'Z';
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
      sign = rest[0];
      off_h = std::stoi(std::string(rest.substr(1, 2)));
      off_m = std::stoi(std::string(rest.substr(4, 2)));
    } else {
      return bad();
    }
  }
  if (t.tm_mon < 1 || t.tm_mon > 12 || t.tm_mday < 1 || t.tm_mday > 31 || t.tm_hour > 23 ||
      t.tm_min > 59 || t.tm_sec > 60)
    return bad();
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  int64_t seconds = timegm(&t);
  int64_t offset = (off_h * 3600 + off_m * 60) * (sign == '-' ? -1 : 1);
  return (seconds - offset) * 1000 + millis;
}

}  // namespace mrv::agent
