#pragma once
// A secret (password, bearer token) kept in a file of its own: its first line, without
// trailing whitespace or line ending. Errors name the file, never its content.
#include <filesystem>
#include <string>

#include "mrv/core/error.hpp"

namespace mrv {

// Only a regular file is read (a FIFO or a device would block start or never end), and
// only its first line, of at most 64 KiB (a longer one is refused). `refuse_mode_bits`: permission bits that make the file unsafe to
// trust (S_IRWXO: others may read or write it); 0 checks none.
[[nodiscard]] Result<std::string> read_secret_file(const std::filesystem::path& file,
                                                   unsigned refuse_mode_bits = 0);

}  // namespace mrv
