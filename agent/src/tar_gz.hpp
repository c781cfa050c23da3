#pragma once
// Writing and reading .tar.gz files through libarchive (the verifier bundle). Reading
// streams entry by entry, so a bundle of millions of records needs little memory.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

struct archive;

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
  TarGzWriter(archive* a, std::filesystem::path path, int64_t mtime_s);
  Result<void> header(const std::string& name, uint64_t size);
  archive* a_ = nullptr;
  std::filesystem::path path_;
  int64_t mtime_s_ = 0;
};

// Calls `on_entry(name, regular_file)` for each entry; while it runs, `read` returns the
// entry's next piece of data ("" at its end).
class TarGzReader {
 public:
  [[nodiscard]] static Result<TarGzReader> open(const std::filesystem::path& path);
  TarGzReader(TarGzReader&&) noexcept;
  ~TarGzReader();
  // Next entry's name and whether it is a regular file; nullopt at the end.
  struct Entry {
    std::string name;
    bool regular = false;
  };
  [[nodiscard]] Result<std::optional<Entry>> next();
  // The current entry's next piece; empty at its end.
  [[nodiscard]] Result<std::string_view> read();

 private:
  explicit TarGzReader(archive* a, std::filesystem::path path);
  archive* a_ = nullptr;
  std::filesystem::path path_;
  std::string buffer_;
};

}  // namespace mrv::agent
