// Signed monitoring reports (docs/report-format.md) as the registry and verify read
// them: the limits scan, then the parse; a parsed report's canonical part is JSON.
#include "fuzz_support.hpp"
#include "mrv/core/text_limits.hpp"
#include "mrv/report/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = mrv::fuzz::as_text(data, size);
  if (!mrv::check_json_limits(text)) return 0;
  auto report = mrv::report::parse_signed_report(text);
  if (report) MRV_FUZZ_CHECK(!report->canonical.empty() && report->canonical.front() == '{');
  return 0;
}
