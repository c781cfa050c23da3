#pragma once
// A JSON document as the list of its scalars, each under its JSON Pointer (RFC 6901),
// in document order. Numbers keep the exact text they were written with: a meter's
// "1234.500" stays "1234.500", which a DOM of doubles would lose.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/core/error.hpp"

namespace mrv::collector {

struct JsonScalar {
  enum class Kind { string, number, boolean, null } kind;
  std::string text;  // string: its value; number: its exact text; boolean: "true"/"false"
};

struct FlatJson {
  bool root_is_array = false;
  bool root_is_object = false;
  std::vector<std::pair<std::string, JsonScalar>> scalars;

  // The scalar at `pointer` ("" is the root), or nullptr; the first in document order
  // when a key repeats. A binary search, O(log n): a message's every field is looked up,
  // so a scan would make a large array quadratic. The first call sorts an index
  // (O(n log n)) of the scalars as they are then; not thread-safe.
  const JsonScalar* find(std::string_view pointer) const;

  // Pointer comparisons made by find() so far: how a test measures its work.
  mutable uint64_t pointer_comparisons = 0;

 private:
  mutable std::vector<uint32_t> by_pointer_;  // indexes of scalars, by pointer, then document order
};

// Fails (invalid_argument, with the byte offset) on anything that is not one JSON
// document, or that nests deeper than max_depth.
[[nodiscard]] Result<FlatJson> flatten_json(std::string_view text, size_t max_depth = 32);

}  // namespace mrv::collector
