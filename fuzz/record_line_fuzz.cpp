// Record lines (docs/record-format.md §3.3) and the canonical record inside each: what
// every export, bundle and upload carries. A parsed record must re-encode to the same
// bytes, and the chain checker must answer, never crash, whatever the line.
#include <optional>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/chain_verifier.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/core/text_limits.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mrv::PublicKey key = mrv::fuzz::seed_public_key();
  std::string_view input = mrv::fuzz::as_text(data, size);
  (void)mrv::check_json_limits(input);
  auto line = mrv::parse_record_line(input);
  if (!line) return 0;
  // Whichever path read the line (the fast one copies runs of plain text whole), a JSON
  // parser reads the same record text from it.
  auto j = nlohmann::json::parse(input, nullptr, false);
  if (!j.is_discarded()) MRV_FUZZ_CHECK(j.is_object() && j.value("record", std::string()) == line->record);
  auto fields = mrv::decode_record(line->record);
  if (fields) {
    std::string again;
    MRV_FUZZ_CHECK(mrv::encode_record(*fields, again).has_value());
    MRV_FUZZ_CHECK(again == line->record);  // one record, one encoding
  }
  mrv::ChainVerifier verifier(std::span<const mrv::PublicKey>(&key, 1));
  auto checked = verifier.check(line->seq, line->record, line->hash_hex, line->signature_b64);
  if (checked) MRV_FUZZ_CHECK(fields.has_value() && (*checked)->seq == line->seq);
  return 0;
}
