#pragma once
// The canonical bytes of a record: the exact bytes that are hashed, signed, stored and
// exported. docs/record-format.md specifies them; tests/vectors/ pins them.
#include <string>

#include "mrv/core/error.hpp"
#include "mrv/core/reading.hpp"

namespace mrv {

inline constexpr int kRecordFormatVersion = 1;
inline constexpr std::string_view kGenesisPrevHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
// The `alg` of a record that carries no signature of its own: a signed checkpoint covers
// it (checkpoint-only signing, docs/verification.md §5).
inline constexpr std::string_view kCheckpointOnlyAlg = "checkpoint";

// Appends the canonical encoding of `fields` to `out` (which is cleared first), so a hot
// loop can reuse one buffer. Fails when a text field is not valid UTF-8 or a value is
// not decimal text.
[[nodiscard]] Result<void> encode_record(const RecordFields& fields, std::string& out);

// Checks what encode_record would refuse in a reading (UTF-8 text, decimal value, a
// point id), so a collector's bad reading is refused at the door, not at commit.
[[nodiscard]] Result<void> validate_reading(const Reading& reading);

// Parses canonical bytes back into fields; fails (naming the field) on anything that
// encode_record would not have produced.
[[nodiscard]] Result<RecordFields> decode_record(std::string_view bytes);

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text);

// JSON string escaping as the format defines it (RFC 8259 minimal escaping).
void append_json_string(std::string& out, std::string_view text);

// Where the run of bytes from `from` that append_json_string copies unescaped ends: at
// the first '"', '\\' or byte below 0x20, or at the end. The writer and the record-line
// reader share it, so they agree on what needs an escape.
inline size_t unescaped_run_end(std::string_view text, size_t from) {
  while (from < text.size() && text[from] != '"' && text[from] != '\\' &&
         static_cast<unsigned char>(text[from]) >= 0x20)
    ++from;
  return from;
}

}  // namespace mrv
