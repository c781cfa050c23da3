#pragma once
// How reports write numbers and times (docs/report-format.md), shared by the JSON, CSV
// and HTML writers and the notes, so every output says the same thing; and HTML text,
// which the agent's status page writes too.
#include <cstdint>
#include <string>
#include <string_view>

namespace mrv::report {

// Fixed-point with `decimals` places, trailing zeros dropped ("3222.222", "0", "-1.5");
// "-0" never appears. Not finite: "".
std::string format_decimal(double value, int decimals = 6);
// RFC 3339 UTC: "2026-01-01T00:00:00Z", with ".250" only when there are milliseconds.
std::string format_time(int64_t utc_ms);
// A length for people: "45 s", "5 min", "2 h 05 min", "3 d 4 h".
std::string format_duration(int64_t ms);
// Text for HTML content and attribute values: & < > " ' escaped.
std::string html_escape(std::string_view text);
// A self-contained page's start, through <body>: UTF-8, the (escaped) title, the inline style.
std::string html_page_start(std::string_view title, std::string_view style);

}  // namespace mrv::report
