// The bundle's .tar.gz reader (docs/verification.md §4): entry headers, sizes, padding,
// the end blocks and the gzip trailer, from a file as verify reads it.
#include "fuzz_support.hpp"
#include "mrv/evidence/tar_gz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto path = mrv::fuzz::write_scratch("input.tar.gz", mrv::fuzz::as_text(data, size));
  auto reader = mrv::evidence::TarGzReader::open(path);
  if (!reader) return 0;
  for (int entries = 0; entries < 64; ++entries) {
    auto entry = reader->next();
    if (!entry || !*entry) break;
    for (;;) {
      auto piece = reader->read();
      if (!piece || piece->empty()) break;
    }
  }
  return 0;
}
