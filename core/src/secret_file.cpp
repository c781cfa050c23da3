#include "mrv/core/secret_file.hpp"

#include <cctype>
#include <fstream>

namespace mrv {

Result<std::string> read_secret_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) return fail(ErrorCode::config, file.string(), "cannot read a secret from this file");
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

}  // namespace mrv
