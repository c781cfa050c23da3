// gzip (RFC 1952) as the registry inflates an upload body: at most the limit it is
// given, whatever the input claims.
#include "fuzz_support.hpp"
#include "mrv/core/gzip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kLimit = 1 << 20;
  auto inflated = mrv::gzip_decompress(mrv::fuzz::as_text(data, size), kLimit);
  if (inflated) MRV_FUZZ_CHECK(inflated->size() <= kLimit);
  return 0;
}
