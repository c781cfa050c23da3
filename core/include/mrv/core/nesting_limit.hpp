#pragma once
// A bound on how deeply JSON and TOML from outside may nest, checked by a cheap scan
// before any parser sees the text. nlohmann's serialiser and comparisons and toml++'s
// parser recurse once per level, so a few hundred KiB of `[[[[...` (or a TOML header
// `[a.a.a...]` with 100,000 parts) would overflow the stack. Every parse of text we did
// not write (a bundle's entries, a report, a config) is checked here first
// (docs/verification.md §6, limits).
#include <cstddef>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

// Objects and arrays one inside another, the outermost counting as 1. The deepest
// document we write (a monitoring report) nests 7 levels.
inline constexpr size_t kMaxJsonNesting = 64;
// Tables and arrays one inside another, the root table counting as 1: `[a.b]` opens a
// table at depth 3, a dotted key `x.y = 1` adds one table per part but the last, and
// each inline table or array one more. Our deepest configs nest 4 levels.
inline constexpr size_t kMaxTomlNesting = 64;

// invalid_argument when `text` nests deeper than `max_depth`; the message says where
// (line and column). Strings are skipped; text that is not JSON passes (the parser that
// follows says what is wrong with it).
[[nodiscard]] Result<void> check_json_nesting(std::string_view text, size_t max_depth = kMaxJsonNesting);

// config (where: `file`:line) when `text` nests deeper than `max_depth`. Comments,
// strings and quoted keys are skipped; malformed TOML passes (toml++ reports it).
[[nodiscard]] Result<void> check_toml_nesting(std::string_view text, const std::string& file,
                                              size_t max_depth = kMaxTomlNesting);

}  // namespace mrv
