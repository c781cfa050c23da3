#pragma once
// Site records: what a person at the site states that no meter sends (a reading off a
// meter's display, a meter exchange, a calibration, a document, a note), signed into the
// same chain as the readings as records of type "site-record" (docs/record-format.md
// §1.6). The record's own fields carry the point, the main number, its unit and the
// instant it is about; `reason` carries the details: a canonical JSON object whose
// members are all strings, sorted by key, without whitespace.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"
#include "mrv/core/reading.hpp"

namespace mrv {

enum class SiteRecordKind { manual_reading, meter_exchange, calibration, document, note };

// "manual-reading", "meter-exchange", "calibration", "document", "note".
std::string_view to_string(SiteRecordKind kind);
std::optional<SiteRecordKind> parse_site_record_kind(std::string_view text);

// The most bytes any details member may hold (a note's text is the long one).
inline constexpr size_t kSiteRecordMemberMax = 4096;
// The source of every site record starts with this, then the login of who entered it.
inline constexpr std::string_view kOperatorSourcePrefix = "operator:";

struct SiteRecord {
  SiteRecordKind kind = SiteRecordKind::note;
  std::string id;          // 32 hex, made once per entry: a retry carries the same id
  std::string entered_by;  // the person's name as given
  std::string login;       // the Unix login that entered it (the source after "operator:")
  std::string point;       // "" for a document (and a note about the whole site)
  int64_t ts_ms = 0;       // the instant it is about
  std::string value, unit;  // the kind's main number as decimal text, and its unit
  // Every details member as stored (kind, id and entered_by too).
  std::map<std::string, std::string> details;

  // Typed copies of the details that parse_site_record fills (empty, 0 or false when the
  // kind has no such member). site_record_reading ignores them: it writes `details`.
  std::string meter_serial;                 // manual-reading, calibration
  std::string old_serial, new_serial;       // meter-exchange
  double old_final = 0, new_initial = 0;    // meter-exchange registers
  bool result_pass = false;                 // calibration
  double error_percent = 0;                 // calibration: `value`
  int64_t valid_until_ms = 0;               // calibration: the first instant it no longer covers
  int64_t period_to_ms = 0;                 // document: the period is [ts_ms, period_to_ms)
  int64_t to_ms = 0;                        // note: the end of what it explains (0: none)
  std::string document_type, parameter, file_sha256, certificate_sha256;
};

// Reads and checks a site record strictly: the type, time_source "operator", quality
// good, a source "operator:<login>", canonical details with exactly the members of its
// kind, each well-formed, and the point, value and unit its kind needs. Errors are
// invalid_argument and name the field ("time_source", "point", "value", "unit",
// "source", "details") or the member ("details.valid_until").
[[nodiscard]] Result<SiteRecord> parse_site_record(const RecordFields& fields);
// The same checks on the reading part alone (the writer's check before it queues one).
[[nodiscard]] Result<SiteRecord> parse_site_record(const Reading& reading);

// The Reading the journal writer stores for `record`: kind, id, entered_by, login,
// point, ts_ms, value, unit and the other `details` members (kind, id and entered_by are
// taken from the fields, whatever `details` says), checked by parse_site_record.
[[nodiscard]] Result<Reading> site_record_reading(const SiteRecord& record);

// The canonical details text of these members: {"a":"1","b":"2"}, escaped as record
// strings (docs/record-format.md §1.2). std::map orders keys by byte, as the format does.
std::string encode_site_record_details(const std::map<std::string, std::string>& members);

}  // namespace mrv
