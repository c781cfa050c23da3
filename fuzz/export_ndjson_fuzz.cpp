// The NDJSON export (docs/record-format.md) as `verify` reads it: a header line, then
// record lines checked against the pinned seed key. Never throws; a failure names a line.
#include <sstream>

#include "fuzz_support.hpp"
#include "mrv/evidence/export_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mrv::PublicKey key = mrv::fuzz::seed_public_key();
  std::istringstream in(std::string(mrv::fuzz::as_text(data, size)));
  auto report = mrv::evidence::verify_export(in, std::span<const mrv::PublicKey>(&key, 1));
  if (report.failure) MRV_FUZZ_CHECK(report.failure->starts_with("line "));
  return 0;
}
