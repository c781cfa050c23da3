#pragma once
// The entry path's request: one site record a person enters with `mrv-agent record`, as
// the CLI sends it over the control socket (entry_socket) and as the CLI checks it before
// it writes the journal itself. Nothing in a request is trusted: the receiver rebuilds
// the record with the site-record rules (core/site_record.hpp) and checks it against the
// config, and the login comes from the kernel, never from the request.
//
// The request is one line of JSON (docs/operations.md, "Entering site records"):
//   {"kind":"calibration","point":"m1.energy_kwh","value":"0.3","unit":"%","ts_ms":1817856000000,
//    "details":{"id":"<32 hex>","entered_by":"Saraa B.","meter_serial":"EXP-0001",...}}
// point, value and unit may be left out (""); details hold every member but kind, all
// strings. The answer is one line: {"ok":true,"seq":N,"hash":"<64 hex>","duplicate":false}
// or {"ok":false,"error":"what is wrong"}.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/core/site_record.hpp"

namespace mrv::agent {

inline constexpr size_t kEntryRequestMaxBytes = 64 * 1024;  // one request line, without its newline
// How far ahead of the agent's clock an entry's time may lie (a typo in the year is not).
inline constexpr int64_t kEntryFutureSlackMs = 24 * 3600 * 1000;

// The record a request line describes (login empty), or an error naming the member
// ("request.ts_ms", "request.details.result"). Only the form is checked here.
[[nodiscard]] Result<SiteRecord> parse_entry_request(std::string_view line);

// What the config says of an entry: its point is configured; a manual reading's or a
// calibration's meter_serial is that point's meter, and a meter exchange names it as
// the old or the new meter; registers are in the point's unit; a calibration that passed
// found an error within the point's accuracy class; a document's parameter is one of
// [monitoring]; the time is not before 1970 nor more than a day ahead of now_ms.
[[nodiscard]] Result<void> check_entry(const SiteRecord& record, const Config& config, int64_t now_ms);

// A request checked whole for `login`: the record, and the Reading to submit.
struct Entry {
  SiteRecord record;
  Reading reading;
};
[[nodiscard]] Result<Entry> accept_entry(std::string_view line, const Config& config, const std::string& login,
                                         int64_t now_ms);

// The request line for `record` (no newline). Its text must be valid UTF-8 (site_record_reading checks).
std::string entry_request_line(const SiteRecord& record);
// The answer lines.
std::string entry_answer(const SiteRecordCommit& committed);
std::string entry_refusal(const std::string& error);

// The login of a uid ("uid:<n>" when the system has no name for it).
std::string login_name(uid_t uid);

}  // namespace mrv::agent
