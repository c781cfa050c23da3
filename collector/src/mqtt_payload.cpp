#include "mrv/collector/mqtt_payload.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "flat_json.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/time_text.hpp"

namespace mrv::collector {
namespace {

std::vector<std::string_view> split_levels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t slash = s.find('/', start);
    out.push_back(s.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) return out;
    start = slash + 1;
  }
}

bool is_capture(std::string_view level) {
  return level.size() > 2 && level.front() == '{' && level.back() == '}';
}

tl::unexpected<DecodeError> bad(BadInput reason, std::string detail) {
  return tl::unexpected(DecodeError{reason, std::move(detail)});
}

// A value as decimal text, or why it is not one.
tl::expected<std::string, DecodeError> value_text(const JsonScalar& v, std::string_view where) {
  std::string w(where);
  if (v.kind == JsonScalar::Kind::null) return bad(BadInput::missing_field, w + " is null");
  if (v.kind == JsonScalar::Kind::boolean) return bad(BadInput::not_numeric, w + " is a boolean");
  if (!is_decimal_text(v.text)) {
    std::string lower;
    for (char c : v.text) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!lower.empty() && (lower[0] == '-' || lower[0] == '+')) lower.erase(0, 1);
    if (lower == "nan" || lower == "inf" || lower == "infinity")
      return bad(BadInput::not_finite, w + " is '" + v.text + "'");
    return bad(BadInput::not_numeric, w + " '" + v.text.substr(0, 40) + "' is not a decimal number");
  }
  errno = 0;
  double d = std::strtod(v.text.c_str(), nullptr);
  if (!std::isfinite(d) || (errno == ERANGE && std::fabs(d) > 1.0))
    return bad(BadInput::not_finite, w + " '" + v.text + "' is beyond a double's range");
  return v.text;
}

// Decimal text of seconds (scale 1000) or milliseconds (scale 1) to whole milliseconds.
std::optional<int64_t> decimal_to_ms(std::string_view t, int64_t scale) {
  bool negative = !t.empty() && t[0] == '-';
  if (negative) t.remove_prefix(1);
  size_t dot = t.find('.');
  std::string_view whole = t.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : t.substr(dot + 1);
  if (whole.empty() || whole.size() > 15) return std::nullopt;
  int64_t ms = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return std::nullopt;
    ms = ms * 10 + (c - '0');
  }
  ms *= scale;
  int64_t unit = scale / 10;
  for (char c : frac) {
    if (c < '0' || c > '9') return std::nullopt;
    ms += (c - '0') * unit;
    unit /= 10;
  }
  return negative ? -ms : ms;
}

tl::expected<int64_t, DecodeError> timestamp_ms(const JsonScalar& v, TimestampFormat format,
                                                std::string_view where) {
  std::string w(where);
  auto invalid = [&] {
    return bad(BadInput::bad_timestamp, w + " '" + v.text.substr(0, 40) + "' is not a time");
  };
  bool numeric = v.kind == JsonScalar::Kind::number ||
                 (v.kind == JsonScalar::Kind::string && is_decimal_text(v.text));
  if (format == TimestampFormat::rfc3339 || (!numeric && v.kind == JsonScalar::Kind::string)) {
    if (v.kind != JsonScalar::Kind::string) return invalid();
    auto t = parse_time_ms(v.text);
    if (!t) return invalid();
    return *t;
  }
  if (!numeric) return invalid();
  bool seconds = format == TimestampFormat::epoch_s;
  if (format == TimestampFormat::auto_detect) {
    // Epoch seconds stay below 1e11 until the year 5138; epoch ms passed it in 1973.
    auto whole = decimal_to_ms(v.text, 1);
    if (!whole) return invalid();
    seconds = std::llabs(*whole) < 100'000'000'000;
  }
  auto ms = decimal_to_ms(v.text, seconds ? 1000 : 1);
  if (!ms) return invalid();
  return *ms;
}

// One reading from a JSON object whose scalars sit under `base` ("" or "/3").
tl::expected<DecodedReading, DecodeError> json_reading(const MessageMapping& m, const FlatJson& doc,
                                                       const std::string& base, std::string point) {
  DecodedReading r;
  r.point_id = std::move(point);
  const JsonScalar* value = doc.find(base + m.json.value);
  if (!value) return bad(BadInput::missing_field, "no value at " + base + m.json.value);
  auto text = value_text(*value, base + m.json.value);
  if (!text) return tl::unexpected(text.error());
  r.value = std::move(*text);
  if (!m.json.timestamp.empty())
    if (const JsonScalar* ts = doc.find(base + m.json.timestamp)) {
      auto t = timestamp_ms(*ts, m.timestamp_format, base + m.json.timestamp);
      if (!t) return tl::unexpected(t.error());
      r.ts_ms = *t;
    }
  if (!m.json.unit.empty())
    if (const JsonScalar* unit = doc.find(base + m.json.unit)) r.unit = unit->text;
  if (!m.json.status.empty())
    if (const JsonScalar* status = doc.find(base + m.json.status)) {
      if (auto q = parse_quality(status->text)) {
        r.quality = *q;
      } else {
        r.quality = Quality::uncertain;
        r.reason = "device status: " + status->text.substr(0, 60);
      }
    }
  return r;
}

// SenML (RFC 8428): base fields apply to their record and every later one.
tl::expected<std::vector<DecodedReading>, DecodeError> senml_readings(
    const MessageMapping& m, const Captures& captures, const FlatJson& doc, int64_t now_ms) {
  if (!doc.root_is_array) return bad(BadInput::invalid_json, "SenML must be a JSON array");
  std::map<size_t, std::map<std::string, const JsonScalar*>> records;
  for (const auto& [pointer, scalar] : doc.scalars) {
    size_t slash = pointer.find('/', 1);
    if (slash == std::string::npos) return bad(BadInput::invalid_json, "SenML record at " + pointer + " is not an object");
    records[std::stoul(pointer.substr(1, slash - 1))][pointer.substr(slash + 1)] = &scalar;
  }
  std::string base_name, base_unit;
  std::optional<int64_t> base_time_ms;
  std::vector<DecodedReading> out;
  for (auto& record : records) {
    const auto& f = record.second;  // (a lambda may not capture a structured binding in clang 14)
    std::string where = "/" + std::to_string(record.first);
    auto get = [&](const char* key) -> const JsonScalar* {
      auto it = f.find(key);
      return it == f.end() ? nullptr : it->second;
    };
    if (auto bn = get("bn")) base_name = bn->text;
    if (auto bu = get("bu")) base_unit = bu->text;
    if (auto bt = get("bt")) {
      auto t = bt->kind == JsonScalar::Kind::number ? decimal_to_ms(bt->text, 1000) : std::nullopt;
      if (!t) return bad(BadInput::bad_timestamp, where + "/bt is not a number of seconds");
      base_time_ms = *t;
    }
    if (auto bv = get("bv"); bv && bv->text != "0")
      return bad(BadInput::not_numeric, where + "/bv: base values are not supported");
    const JsonScalar* v = get("v");
    if (!v) {
      if (get("vs") || get("vb") || get("vd"))
        return bad(BadInput::not_numeric, where + " has a string, boolean or data value");
      if (f.size() == f.count("bn") + f.count("bu") + f.count("bt") + f.count("bver")) continue;
      return bad(BadInput::missing_field, where + " has no value (v)");
    }
    std::string name = base_name + (get("n") ? get("n")->text : "");
    if (name.empty()) return bad(BadInput::missing_field, where + " has no name (bn, n)");
    DecodedReading r;
    Captures with_name = captures;
    with_name.emplace_back("n", name);
    auto point = expand_point(m.point, with_name);
    if (!point) return bad(BadInput::unmapped, "no point for SenML name '" + name + "'");
    r.point_id = std::move(*point);
    auto text = value_text(*v, where + "/v");
    if (!text) return tl::unexpected(text.error());
    r.value = std::move(*text);
    r.unit = get("u") ? get("u")->text : base_unit;
    std::optional<int64_t> t = base_time_ms;
    if (auto tt = get("t")) {
      auto rel = tt->kind == JsonScalar::Kind::number ? decimal_to_ms(tt->text, 1000) : std::nullopt;
      if (!rel) return bad(BadInput::bad_timestamp, where + "/t is not a number of seconds");
      t = t.value_or(0) + *rel;
    }
    // RFC 8428 4.5.3: times below 2^28 s are relative to now.
    if (t && *t < (int64_t{1} << 28) * 1000) t = now_ms + *t;
    r.ts_ms = t;
    out.push_back(std::move(r));
  }
  if (out.empty()) return bad(BadInput::missing_field, "SenML pack has no records with a value");
  return out;
}

}  // namespace

std::string_view to_string(BadInput reason) {
  switch (reason) {
    case BadInput::oversized: return "oversized";
    case BadInput::binary: return "binary";
    case BadInput::invalid_json: return "invalid_json";
    case BadInput::missing_field: return "missing_field";
    case BadInput::not_numeric: return "not_numeric";
    case BadInput::not_finite: return "not_finite";
    case BadInput::wrong_unit: return "wrong_unit";
    case BadInput::bad_timestamp: return "bad_timestamp";
    case BadInput::unmapped: return "unmapped";
    case BadInput::internal: return "internal_error";
  }
  return "unknown";
}

std::string mqtt_filter(std::string_view topic_template) {
  std::string out;
  for (auto level : split_levels(topic_template)) {
    if (level.data() != topic_template.data()) out += '/';
    out += is_capture(level) ? std::string_view("+") : level;
  }
  return out;
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  auto f = split_levels(filter), t = split_levels(topic);
  if (!topic.empty() && topic[0] == '$' && !filter.empty() && (filter[0] == '+' || filter[0] == '#'))
    return false;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

std::optional<Captures> match_topic(std::string_view topic_template, std::string_view topic) {
  if (!topic_matches(mqtt_filter(topic_template), topic)) return std::nullopt;
  Captures captures;
  auto f = split_levels(topic_template), t = split_levels(topic);
  for (size_t i = 0; i < f.size() && i < t.size(); ++i)
    if (is_capture(f[i])) captures.emplace_back(std::string(f[i].substr(1, f[i].size() - 2)), std::string(t[i]));
  return captures;
}

std::optional<std::string> expand_point(std::string_view point_template, const Captures& captures) {
  std::string out;
  size_t i = 0;
  while (i < point_template.size()) {
    size_t open = point_template.find('{', i);
    if (open == std::string_view::npos) {
      out += point_template.substr(i);
      break;
    }
    size_t close = point_template.find('}', open);
    if (close == std::string_view::npos) return std::nullopt;
    out += point_template.substr(i, open - i);
    std::string_view name = point_template.substr(open + 1, close - open - 1);
    bool found = false;
    for (const auto& [k, v] : captures)
      if (k == name) {
        out += v;
        found = true;
        break;
      }
    if (!found) return std::nullopt;
    i = close + 1;
  }
  return out;
}

tl::expected<std::vector<DecodedReading>, DecodeError> decode_message(
    const MessageMapping& m, const Captures& captures, std::string_view payload, int64_t now_ms) {
  if (payload.size() > m.max_payload_bytes)
    return bad(BadInput::oversized, std::to_string(payload.size()) + " bytes, limit " +
                                        std::to_string(m.max_payload_bytes));
  bool text = is_valid_utf8(payload);
  for (char c : payload)
    text = text && (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n' || c == '\r');
  if (!text) return bad(BadInput::binary, "payload is not UTF-8 text");

  if (m.format == PayloadFormat::number) {
    size_t b = payload.find_first_not_of(" \t\r\n"), e = payload.find_last_not_of(" \t\r\n");
    std::string trimmed(b == std::string_view::npos ? "" : payload.substr(b, e - b + 1));
    if (trimmed.empty()) return bad(BadInput::missing_field, "empty payload");
    auto point = expand_point(m.point, captures);
    if (!point) return bad(BadInput::unmapped, "point template " + m.point + " names no topic level");
    auto value = value_text(JsonScalar{JsonScalar::Kind::string, trimmed}, "payload");
    if (!value) return tl::unexpected(value.error());
    return std::vector<DecodedReading>{{std::move(*point), std::move(*value), "", std::nullopt,
                                        Quality::good, ""}};
  }

  auto doc = flatten_json(payload);
  if (!doc) return bad(BadInput::invalid_json, doc.error().message);
  if (m.format == PayloadFormat::senml) return senml_readings(m, captures, *doc, now_ms);

  auto point = expand_point(m.point, captures);
  if (!point) return bad(BadInput::unmapped, "point template " + m.point + " names no topic level");
  std::vector<DecodedReading> out;
  if (doc->root_is_array) {  // an array of objects: one reading each
    size_t count = 0;
    for (const auto& [pointer, scalar] : doc->scalars) {
      size_t slash = pointer.find('/', 1);
      if (slash != std::string::npos) count = std::max<size_t>(count, std::stoul(pointer.substr(1, slash - 1)) + 1);
    }
    for (size_t i = 0; i < count; ++i) {
      auto r = json_reading(m, *doc, "/" + std::to_string(i), *point);
      if (!r) return tl::unexpected(r.error());
      out.push_back(std::move(*r));
    }
    if (out.empty()) return bad(BadInput::missing_field, "empty array");
    return out;
  }
  auto r = json_reading(m, *doc, "", std::move(*point));
  if (!r) return tl::unexpected(r.error());
  out.push_back(std::move(*r));
  return out;
}

}  // namespace mrv::collector
