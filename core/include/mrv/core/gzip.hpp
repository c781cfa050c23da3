#pragma once
// gzip (RFC 1952) of whole buffers, on zlib: upload batches are compressed in one go.
#include <cstddef>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

// Appends the gzip of `data` at `level` (0-9) to `out`.
[[nodiscard]] Result<void> gzip_compress(std::string_view data, int level, std::string& out);
// Inflates one gzip member (CRC and length checked); refuses output beyond max_bytes, so a
// small body cannot inflate to gigabytes.
[[nodiscard]] Result<std::string> gzip_decompress(std::string_view data, size_t max_bytes);

}  // namespace mrv
