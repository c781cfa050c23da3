#include <ctime>
#include <fstream>
#include <map>

#include "mrv/evidence/export_file.hpp"
#include "mrv/evidence/ocmf.hpp"
#include "mrv/core/canonical.hpp"

namespace mrv::evidence {
namespace {

struct Register {
  std::string value;  // exact decimal text, written as the JSON number
  int64_t ts_ms = 0;
  bool synchronised = false;
  uint64_t seq = 0;
};

struct PointReadings {
  std::optional<Register> begin, end;
};

void append_reading(std::string& out, const char* tx, const Register& r, const std::string& unit) {
  out += "{\"TM\":\"" + ocmf_time(r.ts_ms, r.synchronised) + "\",\"TX\":\"" + tx + "\",\"RV\":" + r.value +
         ",\"RI\":\"1-0:1.8.0\",\"RU\":\"" + unit + "\",\"RT\":\"AC\",\"EF\":\"\",\"ST\":\"G\"}";
}

std::string json_text(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

}  // namespace

std::string ocmf_time(int64_t ms, bool synchronised) {
  std::time_t s = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d,%03d+0000 %c", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000), synchronised ? 'S' : 'U');
  return buf;
}

Result<uint64_t> write_ocmf(Journal& journal, const Config& config, int64_t from_ms, int64_t to_ms,
                            const std::filesystem::path& out) {
  auto signer = Signer::load(config.signing.key_file, config.signing.tpm_tcti);
  if (!signer) return tl::unexpected(signer.error());
  if (signer->algorithm() != Algorithm::ecdsa_p256_sha256)
    return fail(ErrorCode::invalid_argument, config.signing.key_file.string(),
                "OCMF needs an ECDSA P-256 key (mrv-agent keygen --algorithm ecdsa-p256); this key is " +
                    std::string(to_string(signer->algorithm())));
  std::map<std::string, PointReadings> points;  // cumulative energy points, by id
  for (const PointConfig& p : config.points)
    if (p.kind == PointKind::cumulative && (p.unit == "kWh" || p.unit == "Wh")) points[p.id];

  // The good readings nearest each boundary inside the period: begin and end registers.
  auto scanned = journal.read_snapshot([&]() -> Result<void> {
    auto range = journal.seq_range_for_time(from_ms, to_ms);
    if (!range) return tl::unexpected(range.error());
    if (!*range) return {};
    return journal.for_each_record((*range)->first, (*range)->second, [&](const StoredRecord& rec) {
      auto f = decode_record(rec.canonical);
      if (!f || f->type != RecordType::reading || f->reading.quality != Quality::good || f->reading.value.empty())
        return;
      const Reading& r = f->reading;
      auto it = points.find(r.point_id);
      if (it == points.end() || r.ts_ms < from_ms || r.ts_ms >= to_ms) return;
      Register reg{r.value, r.ts_ms, f->received.sync == ClockSync::synchronised, rec.seq};
      if (!it->second.begin || r.ts_ms < it->second.begin->ts_ms) it->second.begin = reg;
      if (!it->second.end || r.ts_ms >= it->second.end->ts_ms) it->second.end = reg;
    });
  });
  if (!scanned) return tl::unexpected(scanned.error());

  std::filesystem::path tmp = out.string() + ".tmp";
  std::ofstream file(tmp, std::ios::binary | std::ios::trunc);
  if (!file) return fail(ErrorCode::io, tmp.string(), "cannot create");
  uint64_t written = 0;
  for (const auto& [id, readings] : points) {
    if (!readings.begin) continue;
    const PointConfig* p = config.find_point(id);
    std::string payload = "{\"FV\":\"1.0\",\"GI\":" + json_text("mrv-agent " + config.site_id) +
                          ",\"GS\":" + json_text(signer->key_id_hex().substr(0, 16)) +
                          ",\"GV\":\"" MRV_VERSION "\",\"PG\":\"T" + std::to_string(written + 1) +
                          "\",\"MS\":" + json_text(p->meter_serial) +
                          ",\"IS\":false,\"IT\":\"NONE\",\"ID\":" + json_text(id) + ",\"RD\":[";
    append_reading(payload, "B", *readings.begin, p->unit);
    payload += ",";
    append_reading(payload, "E", *readings.end, p->unit);
    payload += "]}";
    auto signature = signer->sign(payload);
    if (!signature) {
      file.setstate(std::ios::failbit);  // commit_file removes the partial file
      (void)commit_file(file, tmp, out);
      return tl::unexpected(signature.error());
    }
    file << "OCMF|" << payload << "|{\"SA\":\"ECDSA-secp256r1-SHA256\",\"SD\":\"" << to_hex(*signature) << "\"}\n";
    ++written;
  }
  if (auto r = commit_file(file, tmp, out); !r) return tl::unexpected(r.error());
  return written;
}

}  // namespace mrv::evidence
