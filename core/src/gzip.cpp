#include "mrv/core/gzip.hpp"

#include <zlib.h>

namespace mrv {

Result<void> gzip_compress(std::string_view data, int level, std::string& out) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return fail(ErrorCode::invalid_argument, "gzip", "deflateInit2 failed");
  size_t start = out.size();
  out.resize(start + deflateBound(&z, data.size()) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data() + start);
  z.avail_out = static_cast<uInt>(out.size() - start);
  int rc = deflate(&z, Z_FINISH);
  out.resize(start + z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return fail(ErrorCode::invalid_argument, "gzip", "deflate did not finish");
  return {};
}

Result<std::string> gzip_decompress(std::string_view data, size_t max_bytes) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return fail(ErrorCode::invalid_argument, "gzip", "inflateInit2 failed");
  std::string out;
  out.resize(std::min(max_bytes, std::max<size_t>(data.size() * 4, 4096)));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (z.total_out == out.size()) {
      if (out.size() >= max_bytes) {
        inflateEnd(&z);
        return fail(ErrorCode::invalid_argument, "gzip", "inflates to more than " + std::to_string(max_bytes) + " bytes");
      }
      out.resize(std::min(max_bytes, out.size() * 2));
    }
    z.next_out = reinterpret_cast<Bytef*>(out.data() + z.total_out);
    z.avail_out = static_cast<uInt>(out.size() - z.total_out);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // input ended early
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) break;
  }
  bool whole = rc == Z_STREAM_END && z.avail_in == 0;
  out.resize(z.total_out);
  inflateEnd(&z);
  if (!whole) return fail(ErrorCode::invalid_argument, "gzip", "not one whole gzip stream");
  return out;
}

}  // namespace mrv
