#include "mrv/evidence/tar_gz.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace mrv::evidence {
namespace {

constexpr size_t kBlock = 512;
constexpr size_t kPiece = 1 << 16;

Error io_error(const std::filesystem::path& path, std::string why) {
  return Error{ErrorCode::io, path.string(), std::move(why)};
}

// ustar header fields: name 0..99, mode 100, uid 108, gid 116, size 124 (12), mtime 136
// (12), checksum 148 (8), typeflag 156, magic 257 ("ustar\0" "00"), prefix 345 (155).
// width - 1 octal digits and a NUL; false when the value does not fit.
bool put_octal(char* field, size_t width, uint64_t value) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0; value >>= 3) field[i] = static_cast<char>('0' + (value & 7));
  return value == 0;
}

unsigned header_checksum(const unsigned char* h) {
  unsigned sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? ' ' : h[i];
  return sum;
}

std::optional<uint64_t> get_octal(const unsigned char* field, size_t width) {
  uint64_t v = 0;
  size_t i = 0;
  while (i < width && field[i] == ' ') ++i;
  size_t digits = 0;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i, ++digits) {
    if (v >> 60) return std::nullopt;
    v = v * 8 + (field[i] - '0');
  }
  for (; i < width; ++i)
    if (field[i] != ' ' && field[i] != '\0') return std::nullopt;
  if (digits == 0) return std::nullopt;
  return v;
}

}  // namespace

// ---- writing ----------------------------------------------------------------------

struct TarGzWriter::Impl {
  std::filesystem::path path;
  std::ofstream file;
  z_stream z{};
  bool z_open = false;
  int64_t mtime_s = 0;
  std::string out = std::string(kPiece, '\0');

  ~Impl() {
    if (z_open) deflateEnd(&z);
  }

  Result<void> write(std::string_view data, int flush = Z_NO_FLUSH) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    do {
      z.next_out = reinterpret_cast<Bytef*>(out.data());
      z.avail_out = static_cast<uInt>(out.size());
      int rc = deflate(&z, flush);
      if (rc == Z_STREAM_ERROR) return tl::unexpected(io_error(path, "gzip failed"));
      file.write(out.data(), static_cast<std::streamsize>(out.size() - z.avail_out));
      if (!file) return tl::unexpected(io_error(path, "write failed (disk full?)"));
    } while (z.avail_out == 0);
    return {};
  }

  Result<void> header(const std::string& name, uint64_t size) {
    if (name.empty() || name.size() > 99) return tl::unexpected(io_error(path, "entry name too long: " + name));
    unsigned char h[kBlock] = {};
    std::memcpy(h, name.data(), name.size());
    put_octal(reinterpret_cast<char*>(h) + 100, 8, 0644);
    put_octal(reinterpret_cast<char*>(h) + 108, 8, 0);
    put_octal(reinterpret_cast<char*>(h) + 116, 8, 0);
    if (!put_octal(reinterpret_cast<char*>(h) + 124, 12, size))
      return tl::unexpected(io_error(path, name + ": larger than ustar's 8 GiB per entry"));
    put_octal(reinterpret_cast<char*>(h) + 136, 12, static_cast<uint64_t>(mtime_s));
    h[156] = '0';
    std::memcpy(h + 257, "ustar\0" "00", 8);
    put_octal(reinterpret_cast<char*>(h) + 148, 7, header_checksum(h));
    h[155] = ' ';  // the checksum field's customary "dddddd\0 " form
    return write({reinterpret_cast<const char*>(h), kBlock});
  }

  Result<void> pad(uint64_t size) {
    static const char zeros[kBlock] = {};
    size_t rest = size % kBlock;
    return rest ? write({zeros, kBlock - rest}) : Result<void>{};
  }
};

TarGzWriter::TarGzWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TarGzWriter::TarGzWriter(TarGzWriter&&) noexcept = default;
TarGzWriter::~TarGzWriter() = default;

Result<TarGzWriter> TarGzWriter::create(const std::filesystem::path& path, int64_t mtime_s) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->mtime_s = mtime_s;
  impl->file.open(path, std::ios::binary | std::ios::trunc);
  if (!impl->file) return tl::unexpected(io_error(path, "cannot create"));
  // 16 + MAX_WBITS: a gzip wrapper; level 6, zlib's default balance of size and speed.
  if (deflateInit2(&impl->z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return tl::unexpected(io_error(path, "gzip init failed"));
  impl->z_open = true;
  return TarGzWriter(std::move(impl));
}

Result<void> TarGzWriter::add(const std::string& name, std::string_view data) {
  if (auto r = impl_->header(name, data.size()); !r) return r;
  if (auto r = impl_->write(data); !r) return r;
  return impl_->pad(data.size());
}

Result<void> TarGzWriter::add_file(const std::string& name, const std::filesystem::path& source) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(source, ec);
  if (ec) return tl::unexpected(io_error(source, ec.message()));
  std::ifstream in(source, std::ios::binary);
  if (!in) return tl::unexpected(io_error(source, "cannot read"));
  if (auto r = impl_->header(name, size); !r) return r;
  std::string buf(kPiece, '\0');
  for (uint64_t left = size; left > 0;) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(buf.size(), left)));
    auto got = static_cast<size_t>(in.gcount());
    if (got == 0) return tl::unexpected(io_error(source, "file shrank while being archived"));
    if (auto r = impl_->write({buf.data(), got}); !r) return r;
    left -= got;
  }
  return impl_->pad(size);
}

Result<void> TarGzWriter::close() {
  static const char end[2 * kBlock] = {};  // two zero blocks end a tar archive
  if (auto r = impl_->write({end, sizeof end}, Z_FINISH); !r) return r;
  impl_->file.close();
  if (!impl_->file) return tl::unexpected(io_error(impl_->path, "write failed (disk full?)"));
  return {};
}

// ---- reading ----------------------------------------------------------------------

struct TarGzReader::Impl {
  std::filesystem::path path;
  std::ifstream file;
  z_stream z{};
  bool z_open = false, stream_end = false;
  std::string in = std::string(kPiece, '\0');
  std::string piece = std::string(kPiece, '\0');
  uint64_t entry_left = 0, entry_pad = 0;

  ~Impl() {
    if (z_open) inflateEnd(&z);
  }

  // Up to `want` decompressed bytes into `out`; fewer only at the end of the stream.
  Result<size_t> inflate_some(char* out, size_t want) {
    z.next_out = reinterpret_cast<Bytef*>(out);
    z.avail_out = static_cast<uInt>(want);
    while (z.avail_out > 0 && !stream_end) {
      if (z.avail_in == 0) {
        file.read(in.data(), static_cast<std::streamsize>(in.size()));
        z.next_in = reinterpret_cast<Bytef*>(in.data());
        z.avail_in = static_cast<uInt>(file.gcount());
        if (z.avail_in == 0) return tl::unexpected(io_error(path, "truncated gzip input"));
      }
      int rc = inflate(&z, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) stream_end = true;  // zlib has checked the CRC-32 and length
      else if (rc != Z_OK) return tl::unexpected(io_error(path, std::string("corrupt gzip data: ") + (z.msg ? z.msg : "")));
    }
    return want - z.avail_out;
  }

  Result<void> read_exact(char* out, size_t n, const char* what) {
    auto got = inflate_some(out, n);
    if (!got) return tl::unexpected(got.error());
    if (*got != n) return tl::unexpected(io_error(path, std::string("archive ends inside ") + what));
    return {};
  }

  Result<void> skip(uint64_t n) {
    while (n > 0) {
      size_t step = static_cast<size_t>(std::min<uint64_t>(n, piece.size()));
      if (auto r = read_exact(piece.data(), step, "an entry"); !r) return r;
      n -= step;
    }
    return {};
  }

  // The first gzip member ended: nothing may follow its trailer. gzip -d and tar -xzf read
  // a second member (or skip appended garbage) as more of the archive, a verifier must not
  // let them see what it did not check.
  Result<void> nothing_after_stream() {
    if (z.avail_in > 0 || file.peek() != std::ifstream::traits_type::eof())
      return tl::unexpected(io_error(path, "bytes after the end of the gzip stream (byte " + std::to_string(z.total_in) +
                                               "): a bundle is one gzip member with nothing after it"));
    return {};
  }

  // After the first zero block: a second one, then only zero padding to the gzip end.
  Result<void> finish() {
    uint64_t zeros = 0;
    for (;;) {
      auto got = inflate_some(piece.data(), piece.size());
      if (!got) return tl::unexpected(got.error());
      for (size_t i = 0; i < *got; ++i)
        if (piece[i] != 0)
          return tl::unexpected(io_error(path, "data after the end-of-archive zero block (archive byte " +
                                                   std::to_string(z.total_out - *got + i) + ")"));
      zeros += *got;
      if (stream_end) break;
    }
    if (zeros < kBlock) return tl::unexpected(io_error(path, "the archive ends with one zero block, not two"));
    return nothing_after_stream();
  }
};

TarGzReader::TarGzReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TarGzReader::TarGzReader(TarGzReader&&) noexcept = default;
TarGzReader::~TarGzReader() = default;

Result<TarGzReader> TarGzReader::open(const std::filesystem::path& path) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file.open(path, std::ios::binary);
  if (!impl->file) return tl::unexpected(io_error(path, "cannot open"));
  if (inflateInit2(&impl->z, 16 + MAX_WBITS) != Z_OK) return tl::unexpected(io_error(path, "gzip init failed"));
  impl->z_open = true;
  return TarGzReader(std::move(impl));
}

Result<std::optional<TarGzReader::Entry>> TarGzReader::next() {
  Impl& r = *impl_;
  if (auto s = r.skip(r.entry_left + r.entry_pad); !s) return tl::unexpected(s.error());
  r.entry_left = r.entry_pad = 0;
  uint64_t at = r.z.total_out;  // every byte inflated so far was handed out: the header's offset
  unsigned char h[kBlock];
  if (auto s = r.read_exact(reinterpret_cast<char*>(h), kBlock, "a header"); !s) return tl::unexpected(s.error());
  if (std::all_of(h, h + kBlock, [](unsigned char c) { return c == 0; })) {
    if (auto s = r.finish(); !s) return tl::unexpected(s.error());
    return std::optional<Entry>();
  }
  auto bad = [&](const std::string& why) {
    return tl::unexpected(io_error(r.path, "bad tar header at archive byte " + std::to_string(at) + ": " + why));
  };
  auto sum = get_octal(h + 148, 8);
  if (!sum || *sum != header_checksum(h)) return bad("checksum");
  // POSIX ustar exactly: GNU's "ustar  " headers put other fields where ustar has the prefix.
  if (std::memcmp(h + 257, "ustar\0" "00", 8) != 0) return bad("not a POSIX ustar header (magic \"ustar\" \"00\")");
  auto size = get_octal(h + 124, 12);
  if (!size) return bad("size is not octal digits");
  std::string name(reinterpret_cast<const char*>(h), strnlen(reinterpret_cast<const char*>(h), 100));
  std::string prefix(reinterpret_cast<const char*>(h) + 345, strnlen(reinterpret_cast<const char*>(h) + 345, 155));
  if (!prefix.empty()) name = prefix + "/" + name;
  r.entry_left = *size;
  r.entry_pad = (kBlock - *size % kBlock) % kBlock;
  return std::optional<Entry>(Entry{std::move(name), static_cast<char>(h[156])});
}

Result<std::string_view> TarGzReader::read() {
  Impl& r = *impl_;
  if (r.entry_left == 0) return std::string_view();
  size_t want = static_cast<size_t>(std::min<uint64_t>(r.entry_left, r.piece.size()));
  if (auto s = r.read_exact(r.piece.data(), want, "an entry"); !s) return tl::unexpected(s.error());
  r.entry_left -= want;
  return std::string_view(r.piece.data(), want);
}

}  // namespace mrv::evidence
