#pragma once
// Time as people and peers write it, to UTC milliseconds.
#include <cstdint>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

// "2026-11-25" (midnight UTC), RFC 3339 ("2026-11-25T10:00:00Z",
// "2026-11-25T19:00:00.250+09:00"), or epoch milliseconds ("1767225600000").
[[nodiscard]] Result<int64_t> parse_time_ms(std::string_view text);

}  // namespace mrv
