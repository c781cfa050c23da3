#pragma once
// Writing and reading the bundle's .tar.gz: POSIX ustar entries (regular files with short
// names, nothing else) in a gzip stream, through zlib. Reading streams entry by entry, so
// a bundle of millions of records needs little memory, and checks the gzip trailer, so a
// truncated file fails. Hand-written on zlib rather than libarchive because the bundle
// needs only this much, and libarchive brings ICU, libxml2 and six compressors into the
// daemon's address space (about 2 MiB of resident memory on a gateway).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv::agent {

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
    bool regular = false;  // false: a directory, link or extended header (bundles have none)
  };
  // The next entry; nullopt at the end of the archive (and of a valid gzip stream).
  [[nodiscard]] Result<std::optional<Entry>> next();
  // The current entry's next piece; empty at its end.
  [[nodiscard]] Result<std::string_view> read();

 private:
  struct Impl;
  explicit TarGzReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv::agent
