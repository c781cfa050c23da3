#include "mrv/core/canonical.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "mrv/core/site_record.hpp"

namespace mrv {
namespace {

}  // namespace

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

namespace {

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Appends ,"key": (or {"key": for the first field).
void key(std::string& out, std::string_view name) {
  out += out.empty() ? '{' : ',';
  out += '"';
  out += name;
  out += "\":";
}

bool is_lower_hex(std::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < text.size()) {
    size_t plain = unescaped_run_end(text, i);  // copied whole
    out.append(text.data() + i, plain - i);
    if (plain == text.size()) break;
    auto c = static_cast<unsigned char>(text[plain]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
    i = plain + 1;
  }
  out += '"';
}

Result<void> encode_record(const RecordFields& f, std::string& out) {
  const Reading& r = f.reading;
  for (auto [name, text] : {std::pair<const char*, std::string_view>{"site", f.site_id},
                            {"point", r.point_id}, {"unit", r.unit}, {"reason", r.reason},
                            {"source", r.source}, {"boot_id", f.boot_id}}) {
    if (!is_valid_utf8(text))
      return fail(ErrorCode::invalid_argument, name, "text is not valid UTF-8");
  }
  if (!r.value.empty() && !is_decimal_text(r.value))
    return fail(ErrorCode::invalid_argument, "value", "'" + r.value + "' is not decimal text");
  if (!is_lower_hex(f.prev_hash_hex, 64))
    return fail(ErrorCode::invalid_argument, "prev", "not 64 lowercase hex digits");

  out.clear();
  auto str = [&out](std::string_view name, std::string_view value) {
    key(out, name);
    append_json_string(out, value);
  };
  key(out, "v");
  append_int(out, kRecordFormatVersion);
  str("type", to_string(f.type));
  str("site", f.site_id);
  key(out, "seq");
  append_uint(out, f.seq);
  str("prev", f.prev_hash_hex);
  str("point", r.point_id);
  str("value", r.value);
  str("unit", r.unit);
  key(out, "ts_ms");
  append_int(out, r.ts_ms);
  str("time_source", to_string(r.time_source));
  str("quality", to_string(r.quality));
  str("reason", r.reason);
  str("source", r.source);
  key(out, "recv_ms");
  append_int(out, f.received.utc_ms);
  key(out, "mono_ms");
  append_int(out, f.received.mono_ms);
  str("clock", to_string(f.received.sync));
  str("boot_id", f.boot_id);
  str("config", f.config_hash_hex);
  str("key_id", f.key_id_hex);
  str("alg", f.algorithm);
  out += '}';
  return {};
}

Result<void> validate_reading(const Reading& r) {
  if (r.point_id.empty()) return fail(ErrorCode::invalid_argument, "point", "empty point id");
  if (r.time_source == TimeSource::site_operator)  // decode_record would refuse the record
    return fail(ErrorCode::invalid_argument, "time_source", "\"operator\" is a person's statement: only site records have it");
  for (auto [name, text] : {std::pair<const char*, std::string_view>{"point", r.point_id},
                            {"unit", r.unit}, {"reason", r.reason}, {"source", r.source}}) {
    if (!is_valid_utf8(text))
      return fail(ErrorCode::invalid_argument, name, "text is not valid UTF-8");
  }
  if (!r.value.empty() && !is_decimal_text(r.value))
    return fail(ErrorCode::invalid_argument, "value", "'" + r.value + "' is not decimal text");
  return {};
}

namespace {

// The general path: any JSON object with the fields, so a record that is not canonical
// gets an error naming what is wrong.
Result<RecordFields> parse_record_fields(std::string_view bytes) {
  auto j = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return fail(ErrorCode::corruption, "", "record is not a JSON object");
  RecordFields f;
  std::string missing;
  auto text = [&](const char* name) -> std::string {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string()) {
      if (missing.empty()) missing = name;
      return {};
    }
    return it->get<std::string>();
  };
  auto integer = [&](const char* name) -> int64_t {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_integer()) {
      if (missing.empty()) missing = name;
      return 0;
    }
    return it->get<int64_t>();
  };
  if (integer("v") != kRecordFormatVersion && missing.empty())
    return fail(ErrorCode::corruption, "v", "unsupported record format version");
  // An unknown type or time source reads as another: the re-encoding then differs.
  f.type = parse_record_type(text("type")).value_or(RecordType::reading);
  f.site_id = text("site");
  f.seq = static_cast<uint64_t>(integer("seq"));
  f.prev_hash_hex = text("prev");
  f.reading.point_id = text("point");
  f.reading.value = text("value");
  f.reading.unit = text("unit");
  f.reading.ts_ms = integer("ts_ms");
  f.reading.time_source = parse_time_source(text("time_source")).value_or(TimeSource::agent);
  auto quality = parse_quality(text("quality"));
  f.reading.quality = quality.value_or(Quality::bad);
  f.reading.reason = text("reason");
  f.reading.source = text("source");
  f.received.utc_ms = integer("recv_ms");
  f.received.mono_ms = integer("mono_ms");
  f.received.sync =
      text("clock") == "synchronised" ? ClockSync::synchronised : ClockSync::unsynchronised;
  f.boot_id = text("boot_id");
  f.config_hash_hex = text("config");
  f.key_id_hex = text("key_id");
  f.algorithm = text("alg");
  if (!missing.empty()) return fail(ErrorCode::corruption, missing, "field missing or mistyped");
  return f;
}

// The fast path: canonical bytes have one layout (the fields in their order; escapes only
// for quote, backslash and control characters), read in that order without building a
// JSON tree. false: not that layout (the general path then says why).
class CanonicalReader {
 public:
  explicit CanonicalReader(std::string_view in) : in_(in) {}
  bool lit(std::string_view s) {
    if (!in_.starts_with(s)) return false;
    in_.remove_prefix(s.size());
    return true;
  }
  bool str(std::string& out) {
    out.clear();
    if (!lit("\"")) return false;
    for (;;) {
      size_t stop = 0;  // a plain loop: find_first_of calls memchr per character
      while (stop < in_.size() && in_[stop] != '"' && in_[stop] != '\\') ++stop;
      if (stop == in_.size()) return false;
      out.append(in_.substr(0, stop));
      in_.remove_prefix(stop);
      if (in_[0] == '"') {
        in_.remove_prefix(1);
        return true;
      }
      if (in_.size() >= 2 && (in_[1] == '"' || in_[1] == '\\')) {
        out += in_[1];
        in_.remove_prefix(2);
      } else if (in_.size() >= 6 && in_.starts_with("\\u00") && hex(in_[4]) >= 0 && hex(in_[4]) < 2 && hex(in_[5]) >= 0) {
        out += static_cast<char>(hex(in_[4]) * 16 + hex(in_[5]));
        in_.remove_prefix(6);
      } else {
        return false;
      }
    }
  }
  bool integer(int64_t& v) {
    auto r = std::from_chars(in_.data(), in_.data() + in_.size(), v);
    if (r.ec != std::errc() || r.ptr == in_.data()) return false;
    in_.remove_prefix(static_cast<size_t>(r.ptr - in_.data()));
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  std::string_view in_;
};

bool read_canonical_fields(std::string_view bytes, RecordFields& f) {
  CanonicalReader r(bytes);
  int64_t v = 0, seq = 0;
  thread_local std::string type, time_source, quality, clock;
  Reading& rd = f.reading;
  bool ok = r.lit("{\"v\":") && r.integer(v) && r.lit(",\"type\":") && r.str(type) && r.lit(",\"site\":") &&
            r.str(f.site_id) && r.lit(",\"seq\":") && r.integer(seq) && r.lit(",\"prev\":") && r.str(f.prev_hash_hex) &&
            r.lit(",\"point\":") && r.str(rd.point_id) && r.lit(",\"value\":") && r.str(rd.value) &&
            r.lit(",\"unit\":") && r.str(rd.unit) && r.lit(",\"ts_ms\":") && r.integer(rd.ts_ms) &&
            r.lit(",\"time_source\":") && r.str(time_source) && r.lit(",\"quality\":") && r.str(quality) &&
            r.lit(",\"reason\":") && r.str(rd.reason) && r.lit(",\"source\":") && r.str(rd.source) &&
            r.lit(",\"recv_ms\":") && r.integer(f.received.utc_ms) && r.lit(",\"mono_ms\":") &&
            r.integer(f.received.mono_ms) && r.lit(",\"clock\":") && r.str(clock) && r.lit(",\"boot_id\":") &&
            r.str(f.boot_id) && r.lit(",\"config\":") && r.str(f.config_hash_hex) && r.lit(",\"key_id\":") &&
            r.str(f.key_id_hex) && r.lit(",\"alg\":") && r.str(f.algorithm) && r.lit("}") && r.done();
  if (!ok || v != kRecordFormatVersion || seq < 0) return false;
  f.type = parse_record_type(type).value_or(RecordType::reading);
  f.seq = static_cast<uint64_t>(seq);
  rd.time_source = parse_time_source(time_source).value_or(TimeSource::agent);
  rd.quality = parse_quality(quality).value_or(Quality::bad);
  f.received.sync = clock == "synchronised" ? ClockSync::synchronised : ClockSync::unsynchronised;
  return true;  // an unknown enum text comes back as another: the re-encoding then differs
}

}  // namespace

Result<RecordFields> decode_record(std::string_view bytes) {
  RecordFields f;
  if (!read_canonical_fields(bytes, f)) {
    auto slow = parse_record_fields(bytes);
    if (!slow) return slow;
    f = std::move(*slow);
  }
  // The strictest check there is: the bytes must be exactly what we would encode.
  thread_local std::string again;
  if (auto r = encode_record(f, again); !r) return tl::unexpected(r.error());
  if (again != bytes) return fail(ErrorCode::corruption, "", "record bytes are not canonical");
  // What the encoding allows but no agent writes.
  if (f.seq < 1) return fail(ErrorCode::corruption, "seq", "must be at least 1");
  if (f.algorithm != "ed25519" && f.algorithm != "ecdsa-p256-sha256" && f.algorithm != kCheckpointOnlyAlg)
    return fail(ErrorCode::corruption, "alg", "unknown algorithm '" + f.algorithm + "'");
  if (!is_lower_hex(f.key_id_hex, 64)) return fail(ErrorCode::corruption, "key_id", "not 64 hex digits");
  if (!is_lower_hex(f.config_hash_hex, 64)) return fail(ErrorCode::corruption, "config", "not 64 hex digits");
  if (f.type == RecordType::reading && f.reading.point_id.empty())
    return fail(ErrorCode::corruption, "point", "a reading must name its point");
  if (f.type == RecordType::chain_segment &&
      !(f.reading.point_id.empty() && f.reading.value.empty() && f.reading.unit.empty()))
    return fail(ErrorCode::corruption, "point", "a chain-segment record holds no reading");
  // A person's statement and a measurement never pass for each other.
  if (f.type == RecordType::site_record) {
    if (auto s = parse_site_record(f); !s) return fail(ErrorCode::corruption, s.error().where, s.error().message);
  } else if (f.reading.time_source == TimeSource::site_operator) {
    return fail(ErrorCode::corruption, "time_source",
                "\"operator\" belongs to site records, not to a " + std::string(to_string(f.type)) + " record");
  }
  return f;
}

}  // namespace mrv
