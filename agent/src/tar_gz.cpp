#include "tar_gz.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <fstream>
#include <memory>
#include <optional>

namespace mrv::agent {
namespace {
Error archive_error(archive* a, const std::filesystem::path& path, std::string_view what) {
  const char* msg = a ? archive_error_string(a) : nullptr;
  return Error{ErrorCode::io, path.string(), std::string(what) + ": " + (msg ? msg : "libarchive error")};
}
}  // namespace

TarGzWriter::TarGzWriter(archive* a, std::filesystem::path path, int64_t mtime_s)
    : a_(a), path_(std::move(path)), mtime_s_(mtime_s) {}
TarGzWriter::TarGzWriter(TarGzWriter&& o) noexcept : a_(o.a_), path_(std::move(o.path_)), mtime_s_(o.mtime_s_) {
  o.a_ = nullptr;
}
TarGzWriter::~TarGzWriter() {
  if (a_) archive_write_free(a_);
}

Result<TarGzWriter> TarGzWriter::create(const std::filesystem::path& path, int64_t mtime_s) {
  archive* a = archive_write_new();
  if (!a) return fail(ErrorCode::io, path.string(), "out of memory");
  TarGzWriter w(a, path, mtime_s);
  if (archive_write_add_filter_gzip(a) != ARCHIVE_OK || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK)
    return tl::unexpected(archive_error(a, path, "cannot create"));
  return w;
}

Result<void> TarGzWriter::header(const std::string& name, uint64_t size) {
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(), archive_entry_free);
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0644);
  archive_entry_set_mtime(e.get(), mtime_s_, 0);
  if (archive_write_header(a_, e.get()) != ARCHIVE_OK) return tl::unexpected(archive_error(a_, path_, name));
  return {};
}

Result<void> TarGzWriter::add(const std::string& name, std::string_view data) {
  if (auto r = header(name, data.size()); !r) return r;
  if (!data.empty() && archive_write_data(a_, data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
    return tl::unexpected(archive_error(a_, path_, name));
  return {};
}

Result<void> TarGzWriter::add_file(const std::string& name, const std::filesystem::path& source) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(source, ec);
  if (ec) return fail(ErrorCode::io, source.string(), ec.message());
  std::ifstream in(source, std::ios::binary);
  if (!in) return fail(ErrorCode::io, source.string(), "cannot read");
  if (auto r = header(name, size); !r) return r;
  std::string buf(1 << 16, '\0');
  uint64_t left = size;
  while (left > 0) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(buf.size(), left)));
    auto got = static_cast<size_t>(in.gcount());
    if (got == 0) return fail(ErrorCode::io, source.string(), "file shrank while being archived");
    if (archive_write_data(a_, buf.data(), got) != static_cast<la_ssize_t>(got))
      return tl::unexpected(archive_error(a_, path_, name));
    left -= got;
  }
  return {};
}

Result<void> TarGzWriter::close() {
  if (archive_write_close(a_) != ARCHIVE_OK) return tl::unexpected(archive_error(a_, path_, "write failed (disk full?)"));
  return {};
}

TarGzReader::TarGzReader(archive* a, std::filesystem::path path) : a_(a), path_(std::move(path)) {}
TarGzReader::TarGzReader(TarGzReader&& o) noexcept : a_(o.a_), path_(std::move(o.path_)), buffer_(std::move(o.buffer_)) {
  o.a_ = nullptr;
}
TarGzReader::~TarGzReader() {
  if (a_) archive_read_free(a_);
}

Result<TarGzReader> TarGzReader::open(const std::filesystem::path& path) {
  archive* a = archive_read_new();
  if (!a) return fail(ErrorCode::io, path.string(), "out of memory");
  TarGzReader r(a, path);
  if (archive_read_support_filter_gzip(a) != ARCHIVE_OK || archive_read_support_format_tar(a) != ARCHIVE_OK ||
      archive_read_open_filename(a, path.c_str(), 1 << 16) != ARCHIVE_OK)
    return tl::unexpected(archive_error(a, path, "cannot open as .tar.gz"));
  r.buffer_.resize(1 << 16);
  return r;
}

Result<std::optional<TarGzReader::Entry>> TarGzReader::next() {
  archive_entry* e = nullptr;
  int rc = archive_read_next_header(a_, &e);
  if (rc == ARCHIVE_EOF) return std::optional<Entry>();
  if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) return tl::unexpected(archive_error(a_, path_, "bad tar entry"));
  const char* name = archive_entry_pathname(e);
  return std::optional<Entry>(Entry{name ? name : "", archive_entry_filetype(e) == AE_IFREG});
}

Result<std::string_view> TarGzReader::read() {
  la_ssize_t n = archive_read_data(a_, buffer_.data(), buffer_.size());
  if (n < 0) return tl::unexpected(archive_error(a_, path_, "cannot read entry (truncated or corrupt?)"));
  return std::string_view(buffer_.data(), static_cast<size_t>(n));
}

}  // namespace mrv::agent
