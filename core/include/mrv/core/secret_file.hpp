#pragma once
// A secret (password, bearer token) kept in a file of its own: its first line, without
// trailing whitespace or line ending. Errors name the file, never its content.
#include <filesystem>
#include <string>

#include "mrv/core/error.hpp"

namespace mrv {

[[nodiscard]] Result<std::string> read_secret_file(const std::filesystem::path& file);

}  // namespace mrv
