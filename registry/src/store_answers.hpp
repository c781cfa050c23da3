#pragma once
// What the site store's parts answer with: a refusal (HTTP status and error fields), a
// storage failure, and a file written durably.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "mrv/core/crypto.hpp"
#include "mrv/registry/site_store.hpp"

namespace mrv::registry {

inline tl::unexpected<Refusal> refuse(int status, std::string error, std::string check, std::string message,
                                      std::optional<uint64_t> seq = std::nullopt) {
  if (seq) message = "seq " + std::to_string(*seq) + ": " + message;
  return tl::unexpected(Refusal{status, std::move(error), std::move(check), std::move(message), seq, std::nullopt});
}

inline tl::unexpected<Refusal> storage_failure(const Error& e) {
  return tl::unexpected(Refusal{500, "storage", "storage", e.to_string(), std::nullopt, std::nullopt});
}

inline std::string_view raw(const Sha256& h) { return {reinterpret_cast<const char*>(h.data()), h.size()}; }

// Writes `bytes` to `path` durably: temp file, fsync, rename.
inline Result<void> write_durably(const std::filesystem::path& path, std::string_view bytes) {
  std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return fail(ErrorCode::io, tmp, std::strerror(errno));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::filesystem::remove(tmp);
    return fail(ErrorCode::io, path.string(), "cannot store");
  }
  return {};
}

}  // namespace mrv::registry
