#include "mrv/core/site_record.hpp"

#include <array>
#include <cstdlib>
#include <initializer_list>
#include <span>

#include "mrv/core/canonical.hpp"
#include "mrv/core/time_text.hpp"

namespace mrv {
namespace {

constexpr std::array<std::string_view, 5> kKindNames = {"manual-reading", "meter-exchange", "calibration",
                                                        "document", "note"};

// The details members of each kind, beside kind, id and entered_by (docs/record-format.md §1.6).
using Names = std::span<const std::string_view>;
struct KindMembers {
  Names required, optional;
};

KindMembers members_of(SiteRecordKind kind) {
  static constexpr std::string_view kManual[] = {"meter_serial"}, kManualOpt[] = {"comment", "photo_sha256"},
                                    kExchange[] = {"new_initial", "new_serial", "old_final", "old_serial"},
                                    kComment[] = {"comment"},
                                    kCalibration[] = {"certificate", "certificate_sha256", "laboratory",
                                                      "meter_serial", "result", "valid_until"},
                                    kDocument[] = {"document_type", "file_name", "file_sha256", "issuer", "number",
                                                   "period_to"},
                                    kDocumentOpt[] = {"comment", "parameter"}, kNote[] = {"text"}, kNoteOpt[] = {"to"};
  switch (kind) {
    case SiteRecordKind::manual_reading: return {kManual, kManualOpt};
    case SiteRecordKind::meter_exchange: return {kExchange, kComment};
    case SiteRecordKind::calibration: return {kCalibration, kComment};
    case SiteRecordKind::document: return {kDocument, kDocumentOpt};
    case SiteRecordKind::note: return {kNote, kNoteOpt};
  }
  return {};
}

bool one_of(std::string_view s, Names names) {
  for (std::string_view n : names)
    if (n == s) return true;
  return false;
}

bool one_of(std::string_view s, std::initializer_list<std::string_view> names) {
  return one_of(s, Names(names.begin(), names.size()));
}

bool is_lower_hex(std::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

tl::unexpected<Error> bad(std::string where, std::string message) {
  return fail(ErrorCode::invalid_argument, std::move(where), std::move(message));
}

// Reads the details text, which must be exactly what encode_site_record_details writes:
// a strict subset of JSON read by hand, so each way of missing it gets its own error.
class DetailsReader {
 public:
  explicit DetailsReader(std::string_view text) : in_(text) {}

  Result<std::map<std::string, std::string>> read() {
    std::map<std::string, std::string> out;
    if (in_.empty()) return bad("details", "empty: a site record holds its details in `reason` (a JSON object)");
    if (!take('{')) return unexpected("'{'");
    if (take('}')) return done(out);
    std::string prev;
    for (;;) {
      std::string key, value;
      if (auto r = string(key, "a member name"); !r) return tl::unexpected(r.error());
      if (!take(':')) return unexpected("':' after \"" + key + "\"");
      if (pos_ < in_.size() && static_cast<unsigned char>(in_[pos_]) > ' ' && in_[pos_] != '"')
        return bad("details." + key, "not a string (every details member is a JSON string)");
      if (auto r = string(value, "details." + key); !r) return tl::unexpected(r.error());
      if (!out.empty() && key == prev) return bad("details." + key, "appears twice");
      if (!out.empty() && key < prev)
        return bad("details." + key, "comes after \"" + prev + "\": members must be sorted by key (byte order)");
      prev = key;
      out.emplace(std::move(key), std::move(value));
      if (take('}')) return done(out);
      if (!take(',')) return unexpected("',' or '}'");
    }
  }

 private:
  bool take(char c) {
    if (pos_ >= in_.size() || in_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  Result<std::map<std::string, std::string>> done(std::map<std::string, std::string>& out) {
    if (pos_ != in_.size()) return unexpected("the end after the object");
    return std::move(out);
  }
  tl::unexpected<Error> unexpected(const std::string& wanted) const {
    std::string got = "the end";
    if (pos_ < in_.size() && static_cast<unsigned char>(in_[pos_]) <= ' ') {
      got = "whitespace or a control character";
    } else if (pos_ < in_.size()) {
      got = std::string(3, '\'');
      got[1] = in_[pos_];
    }
    return bad("details", "expected " + wanted + " at byte " + std::to_string(pos_) + ", found " + got +
                              " (canonical: sorted members, strings only, no whitespace)");
  }
  // A string escaped as record strings are: \" and \\, and \u00XX (lowercase) for bytes
  // below 0x20, nothing else.
  Result<void> string(std::string& out, const std::string& what) {
    if (!take('"')) return unexpected("'\"' opening " + what);
    while (pos_ < in_.size()) {
      auto c = static_cast<unsigned char>(in_[pos_]);
      if (c == '"') {
        ++pos_;
        return {};
      }
      if (c < 0x20) return bad(what, "holds a control character that is not escaped as \\u00XX");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      std::string_view rest = in_.substr(pos_);
      if (rest.size() >= 2 && (rest[1] == '"' || rest[1] == '\\')) {
        out += rest[1];
        pos_ += 2;
      } else if (rest.size() >= 6 && rest.starts_with("\\u00") && (rest[4] == '0' || rest[4] == '1') &&
                 is_lower_hex(rest.substr(5, 1), 1)) {
        int low = rest[5] <= '9' ? rest[5] - '0' : rest[5] - 'a' + 10;
        out += static_cast<char>((rest[4] - '0') * 16 + low);
        pos_ += 6;
      } else {
        return bad(what, "has an escape other than \\\", \\\\ and \\u00XX below 0x20 (record-format §1.2)");
      }
    }
    return bad(what, "is not closed");
  }

  std::string_view in_;
  size_t pos_ = 0;
};

// An instant as format_utc_ms writes it, and only so.
Result<int64_t> instant(const std::string& where, const std::string& text) {
  auto ms = parse_time_ms(text);
  if (!ms || format_utc_ms(*ms) != text)
    return bad(where, "'" + text + "' is not an instant in RFC 3339 UTC as 2027-08-10T03:00:00Z");
  return *ms;
}

// The form each member must have, beyond non-empty and at most kSiteRecordMemberMax bytes.
Result<void> check_member(const std::string& name, const std::string& v) {
  std::string where = "details." + name;
  if (v.empty()) return bad(where, "is empty (leave an optional member out instead)");
  if (v.size() > kSiteRecordMemberMax)
    return bad(where, "is longer than " + std::to_string(kSiteRecordMemberMax) + " bytes");
  if (!is_valid_utf8(v)) return bad(where, "is not valid UTF-8");
  bool multi_line = name == "text" || name == "comment";
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 && !(multi_line && (c == '\n' || c == '\t')))
      return bad(where, multi_line ? "holds a control character other than a line feed or a tab"
                                   : "holds a control character (one line of text)");
  if (name == "id" && !is_lower_hex(v, 32)) return bad(where, "is not 32 lowercase hex digits");
  if (name.ends_with("_sha256") && !is_lower_hex(v, 64))
    return bad(where, "is not a SHA-256 as 64 lowercase hex digits");
  if ((name == "old_final" || name == "new_initial") && !is_decimal_text(v))
    return bad(where, "'" + v + "' is not decimal text");
  if (name == "result" && v != "pass" && v != "fail") return bad(where, "'" + v + "' is neither \"pass\" nor \"fail\"");
  if (name == "document_type" && !one_of(v, {"invoice", "sales-statement", "other"}))
    return bad(where, "'" + v + "' is none of \"invoice\", \"sales-statement\", \"other\"");
  if (name == "valid_until" || name == "period_to" || name == "to") {
    if (auto t = instant(where, v); !t) return tl::unexpected(t.error());
  }
  return {};
}

double number(const std::string& decimal) { return std::strtod(decimal.c_str(), nullptr); }

// The record's own fields as the kind needs them.
Result<void> check_fields(const SiteRecord& s) {
  bool about_meter = s.kind == SiteRecordKind::manual_reading || s.kind == SiteRecordKind::meter_exchange ||
                     s.kind == SiteRecordKind::calibration;
  std::string kind(to_string(s.kind));
  if (about_meter && s.point.empty()) return bad("point", "a " + kind + " record names its point");
  if (s.kind == SiteRecordKind::document && !s.point.empty())
    return bad("point", "a document record is about the site: its point is empty");
  bool has_value = s.kind == SiteRecordKind::manual_reading || s.kind == SiteRecordKind::calibration ||
                   s.kind == SiteRecordKind::document;
  if (has_value && s.value.empty())
    return bad("value", s.kind == SiteRecordKind::manual_reading ? "a manual-reading record holds the register read"
                        : s.kind == SiteRecordKind::calibration  ? "a calibration record holds the error found, in %"
                                                                 : "a document record holds the quantity");
  if (!has_value && !s.value.empty()) return bad("value", "a " + kind + " record has no value");
  if (!s.value.empty() && !is_decimal_text(s.value)) return bad("value", "'" + s.value + "' is not decimal text");
  if (s.kind == SiteRecordKind::calibration && s.unit != "%") return bad("unit", "a calibration's unit is \"%\"");
  if (s.kind == SiteRecordKind::document && s.unit.empty()) return bad("unit", "a document's quantity needs its unit");
  if (s.kind == SiteRecordKind::note && !s.unit.empty()) return bad("unit", "a note has no value, so no unit");
  return {};
}

}  // namespace

std::string_view to_string(SiteRecordKind kind) { return kKindNames[static_cast<size_t>(kind)]; }

std::optional<SiteRecordKind> parse_site_record_kind(std::string_view text) {
  for (size_t i = 0; i < kKindNames.size(); ++i)
    if (kKindNames[i] == text) return static_cast<SiteRecordKind>(i);
  return std::nullopt;
}

std::string encode_site_record_details(const std::map<std::string, std::string>& members) {
  std::string out = "{";
  for (const auto& [key, value] : members) {
    if (out.size() > 1) out += ',';
    append_json_string(out, key);
    out += ':';
    append_json_string(out, value);
  }
  return out + "}";
}

Result<SiteRecord> parse_site_record(const Reading& r) {
  if (r.time_source != TimeSource::site_operator)
    return bad("time_source", "a site record's time_source is \"operator\", not \"" +
                                  std::string(to_string(r.time_source)) + "\"");
  if (r.quality != Quality::good)
    return bad("quality", "a site record's quality is \"good\", not \"" + std::string(to_string(r.quality)) + "\"");
  for (auto [name, text] : {std::pair<const char*, std::string_view>{"point", r.point_id}, {"unit", r.unit},
                            {"source", r.source}, {"reason", r.reason}})
    if (!is_valid_utf8(text)) return bad(name, "text is not valid UTF-8");
  if (!r.source.starts_with(kOperatorSourcePrefix) || r.source.size() == kOperatorSourcePrefix.size())
    return bad("source", "a site record's source is \"operator:\" and the login that entered it, not \"" +
                             r.source + "\"");
  for (char c : r.source)
    if (static_cast<unsigned char>(c) < 0x20) return bad("source", "holds a control character");

  auto details = DetailsReader(r.reason).read();
  if (!details) return tl::unexpected(details.error());
  SiteRecord s;
  s.login = r.source.substr(kOperatorSourcePrefix.size());
  s.point = r.point_id;
  s.ts_ms = r.ts_ms;
  s.value = r.value;
  s.unit = r.unit;
  auto kind_it = details->find("kind");
  if (kind_it == details->end()) return bad("details.kind", "missing");
  auto kind = parse_site_record_kind(kind_it->second);
  if (!kind)
    return bad("details.kind", "'" + kind_it->second +
                                   "' is none of manual-reading, meter-exchange, calibration, document, note");
  s.kind = *kind;
  KindMembers members = members_of(s.kind);
  for (const auto& [name, value] : *details) {
    if (!one_of(name, {"kind", "id", "entered_by"}) && !one_of(name, members.required) &&
        !one_of(name, members.optional))
      return bad("details." + name, "is not a member of a " + kind_it->second + " record");
  }
  for (std::string_view name : {std::string_view("id"), std::string_view("entered_by")})
    if (!details->contains(std::string(name))) return bad("details." + std::string(name), "missing");
  for (std::string_view name : members.required)
    if (!details->contains(std::string(name)))
      return bad("details." + std::string(name), "missing (a " + kind_it->second + " record needs it)");
  for (const auto& [name, value] : *details)
    if (auto ok = check_member(name, value); !ok) return tl::unexpected(ok.error());
  if (auto ok = check_fields(s); !ok) return tl::unexpected(ok.error());

  auto get = [&](const char* name) {
    auto it = details->find(name);
    return it == details->end() ? std::string() : it->second;
  };
  s.id = get("id");
  s.entered_by = get("entered_by");
  s.meter_serial = get("meter_serial");
  s.old_serial = get("old_serial");
  s.new_serial = get("new_serial");
  if (s.kind == SiteRecordKind::meter_exchange) {
    if (s.old_serial == s.new_serial) return bad("details.new_serial", "equals old_serial: an exchange changes the meter");
    s.old_final = number(get("old_final"));
    s.new_initial = number(get("new_initial"));
  }
  if (s.kind == SiteRecordKind::calibration) {
    s.result_pass = get("result") == "pass";
    s.error_percent = number(s.value);
    s.valid_until_ms = *instant("details.valid_until", get("valid_until"));
    if (s.valid_until_ms <= s.ts_ms) return bad("details.valid_until", "is not after the calibration (ts_ms)");
  }
  if (s.kind == SiteRecordKind::document) {
    s.period_to_ms = *instant("details.period_to", get("period_to"));
    if (s.period_to_ms <= s.ts_ms) return bad("details.period_to", "is not after the period's start (ts_ms)");
  }
  if (s.kind == SiteRecordKind::note && details->contains("to")) {
    s.to_ms = *instant("details.to", get("to"));
    if (s.to_ms <= s.ts_ms) return bad("details.to", "is not after the note's start (ts_ms)");
  }
  s.document_type = get("document_type");
  s.parameter = get("parameter");
  s.file_sha256 = get("file_sha256");
  s.certificate_sha256 = get("certificate_sha256");
  s.details = std::move(*details);
  return s;
}

Result<SiteRecord> parse_site_record(const RecordFields& fields) {
  if (fields.type != RecordType::site_record)
    return bad("type", "a " + std::string(to_string(fields.type)) + " record is not a site record");
  return parse_site_record(fields.reading);
}

Result<Reading> site_record_reading(const SiteRecord& s) {
  Reading r;
  r.point_id = s.point;
  r.value = s.value;
  r.unit = s.unit;
  r.ts_ms = s.ts_ms;
  r.time_source = TimeSource::site_operator;
  r.quality = Quality::good;
  r.source = std::string(kOperatorSourcePrefix) + s.login;
  std::map<std::string, std::string> details = s.details;
  details["kind"] = std::string(to_string(s.kind));
  details["id"] = s.id;
  details["entered_by"] = s.entered_by;
  r.reason = encode_site_record_details(details);
  if (auto ok = parse_site_record(r); !ok) return tl::unexpected(ok.error());
  return r;
}

}  // namespace mrv
