#include "mrv/core/secret_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

namespace mrv {

namespace {
constexpr size_t kMaxSecretLine = 64 * 1024;  // a token or password: its first line, at most this
}

Result<std::string> read_secret_file(const std::filesystem::path& file, unsigned refuse_mode_bits) {
  auto refused = [&](std::string why) { return Error{ErrorCode::config, file.string(), std::move(why)}; };
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return tl::unexpected(refused(std::string("cannot read a secret from this file: ") + std::strerror(errno)));
  struct stat st {};
  std::string text;
  std::optional<Error> error;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = refused("not a regular file");
  } else if ((st.st_mode & refuse_mode_bits) != 0) {
    error = refused("readable or writable by others (chmod o-rwx it)");
  } else {
    char buf[4096];
    ssize_t n = 0;
    // Up to the first line's end, one byte past the limit at most: the rest is never read.
    while (text.size() <= kMaxSecretLine && text.find('\n') == std::string::npos &&
           (n = ::read(fd, buf, std::min(sizeof buf, kMaxSecretLine + 1 - text.size()))) > 0)
      text.append(buf, static_cast<size_t>(n));
    if (n < 0) error = refused(std::string("cannot read a secret from this file: ") + std::strerror(errno));
    else if (text.substr(0, text.find('\n')).size() > kMaxSecretLine)
      error = refused("its first line is longer than " + std::to_string(kMaxSecretLine) + " bytes");
  }
  ::close(fd);
  if (error) return tl::unexpected(*error);
  if (text.empty()) return tl::unexpected(refused("cannot read a secret from this file: it is empty"));
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

}  // namespace mrv
