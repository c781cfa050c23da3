#pragma once
// Writing and reading the bundle's .tar.gz: POSIX ustar entries (regular files with short
// names, nothing else) in one gzip member, through zlib. Reading streams entry by entry,
// so a bundle of millions of records needs little memory, and checks the gzip trailer, so
// a truncated file fails. It reads only what docs/verification.md §4 allows, so that no
// tar program can see other files than the verifier did: one gzip member with nothing
// after its trailer, ustar headers ("ustar\0" "00", unsigned checksum, octal sizes), and
// after the first zero block only zeros (at least one more block) to the end. Hand-written on zlib rather than libarchive because the bundle
// needs only this much, and libarchive brings ICU, libxml2 and six compressors into the
// daemon's address space (about 2 MiB of resident memory on a gateway).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv::evidence {

class TarGzWriter {
 public:
  [[nodiscard]] static Result<TarGzWriter> create(const std::filesystem::path& path, int64_t mtime_s);
  TarGzWriter(TarGzWriter&&) noexcept;
  ~TarGzWriter();
  [[nodiscard]] Result<void> add(const std::string& name, std::string_view data);
  // An entry whose bytes come from a file (copied in 64 KiB pieces).
  [[nodiscard]] Result<void> add_file(const std::string& name, const std::filesystem::path& source);
  [[nodiscard]] Result<void> close();

 private:
  struct Impl;
  explicit TarGzWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class TarGzReader {
 public:
  [[nodiscard]] static Result<TarGzReader> open(const std::filesystem::path& path);
  TarGzReader(TarGzReader&&) noexcept;
  ~TarGzReader();
  struct Entry {
    std::string name;
    char type = '0';  // the typeflag: '0' (or NUL) a regular file; 'x' 'g' pax, 'L' 'K' GNU headers
    bool regular() const { return type == '0' || type == '\0'; }
  };
  // The next entry; nullopt at the end of the archive (and of the file). Errors say which
  // header (by its byte offset in the archive) and what is wrong with it.
  [[nodiscard]] Result<std::optional<Entry>> next();
  // The current entry's next piece; empty at its end.
  [[nodiscard]] Result<std::string_view> read();

 private:
  struct Impl;
  explicit TarGzReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv::evidence
