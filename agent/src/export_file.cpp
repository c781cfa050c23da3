#include "mrv/agent/export_file.hpp"

#include <charconv>
#include <ctime>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/chain_verifier.hpp"
#include "mrv/core/clock.hpp"

namespace mrv::agent {

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
      line = "{\"seq\":" + std::to_string(rec.seq) + ",\"record\":";
      append_json_string(line, rec.canonical);
      line += ",\"hash\":\"" + to_hex(rec.hash) + "\",\"signature\":\"" +
              to_base64(rec.signature) + "\"}\n";
      file << line;
      ++summary.records;
    });
  });
  file.close();
  std::error_code ec;
  if (!written || !file) {
    std::filesystem::remove(tmp, ec);
    if (!written) return tl::unexpected(written.error());
    return fail(ErrorCode::io, tmp.string(), "write failed (disk full?)");
  }
  std::filesystem::rename(tmp, out, ec);
  if (ec) return fail(ErrorCode::io, out.string(), ec.message());
  return summary;
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

Result<int64_t> parse_time_ms(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_argument, std::string(text),
                "not a time (YYYY-MM-DD, RFC 3339 like 2026-11-25T10:00:00Z, or epoch ms)");
  };
  auto number = [](std::string_view digits, int64_t& out) {
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return !digits.empty() && r.ec == std::errc() && r.ptr == digits.data() + digits.size();
  };
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t ms = 0;
    if (!number(text, ms)) return bad();
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
    int64_t h = 0, m = 0;
    if (rest == "Z" || rest == "z") {
      sign = 'Z';
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
               number(rest.substr(1, 2), h) && number(rest.substr(4, 2), m) && h < 24 && m < 60) {
      sign = rest[0];
      off_h = static_cast<int>(h);
      off_m = static_cast<int>(m);
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
