#pragma once
// Bounds on JSON and TOML from outside, checked by a cheap scan before any parser sees
// the text. nlohmann's serialiser and comparisons and toml++'s parser recurse once per
// level, so a few hundred KiB of `[[[[...` (or a TOML header `[a.a.a...]` with 100,000
// parts) would overflow the stack; and a DOM costs 16 to 100 bytes per value, so 64 MiB
// of `0,0,0,...` (74 KB gzipped) would take over a GiB. Every parse of text we did not
// write (a bundle's entries, a report, a config) is checked here first
// (docs/verification.md §6.1).
#include <cstddef>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

// Objects and arrays one inside another, the outermost counting as 1. The deepest
// document we write (a monitoring report) nests 7 levels.
inline constexpr size_t kMaxJsonNesting = 64;
// Values in one JSON text: the text itself, every array element and every object member
// (1 + the commas + the non-empty arrays and objects). A bundle's checkpoints.json of
// 64 MiB (200,000 checkpoints) holds about a million.
inline constexpr size_t kMaxJsonValues = size_t{1} << 20;
// Tables and arrays one inside another, the root table counting as 1: `[a.b]` opens a
// table at depth 3, a dotted key `x.y = 1` adds one table per part but the last, and
// each inline table or array one more. Our deepest configs nest 4 levels.
inline constexpr size_t kMaxTomlNesting = 64;

// invalid_argument when `text` nests deeper than `max_depth` or holds more than
// `max_values` values; the message says where (line and column) or how many. Strings are
// skipped; text that is not JSON passes (the parser that follows says what is wrong).
[[nodiscard]] Result<void> check_json_limits(std::string_view text, size_t max_depth = kMaxJsonNesting,
                                             size_t max_values = kMaxJsonValues);

// The bytes of one TOML file: toml++ holds 50 to 100 bytes per value, so 64 MiB of
// `a = [0,0,...]` would take GiBs. A config of 1,000 points is about 200 KiB.
inline constexpr size_t kMaxTomlBytes = size_t{4} << 20;

// config (where: `file`, or `file`:line) when `text` is longer than kMaxTomlBytes or
// nests deeper than `max_depth`. Comments, strings and quoted keys are skipped; malformed
// TOML passes (toml++ reports it).
[[nodiscard]] Result<void> check_toml_limits(std::string_view text, const std::string& file,
                                             size_t max_depth = kMaxTomlNesting);

}  // namespace mrv
