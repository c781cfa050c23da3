#pragma once
// Time as people and peers write it, to UTC milliseconds.
#include <cstdint>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

// "2026-11-25" (midnight UTC), RFC 3339 ("2026-11-25T10:00:00Z",
// "2026-11-25T19:00:00.250+09:00"), or epoch milliseconds ("1767225600000").
[[nodiscard]] Result<int64_t> parse_time_ms(std::string_view text);

// RFC 3339 in UTC as records and reports write instants: "2027-08-10T03:00:00Z", with
// ".250" before the Z only when the milliseconds are not zero.
std::string format_utc_ms(int64_t utc_ms);

}  // namespace mrv
