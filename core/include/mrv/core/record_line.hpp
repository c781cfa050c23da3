#pragma once
// One record line of an export or bundle: {"seq":N,"record":"…","hash":"…","signature":"…"}
// (docs/record-format.md §3.3).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mrv {

struct RecordLine {
  uint64_t seq = 0;
  std::string record;  // the canonical bytes, unescaped
  std::string hash_hex, signature_b64;
};

// Any JSON object with those members parses; the layout the agent writes takes a fast
// path that skips building a JSON tree (a verify spends its time on signatures instead).
std::optional<RecordLine> parse_record_line(std::string_view line);

// Appends the line of one stored record (raw hash and signature bytes), with its '\n'.
void append_record_line(std::string& out, uint64_t seq, std::string_view canonical,
                        std::string_view hash, std::string_view signature);

}  // namespace mrv
