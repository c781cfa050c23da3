// Checkpoint notes (docs/verification.md §3, C2SP signed note): what a bundle, a
// registry and `verify --since-checkpoint` read. A parsed note keeps its text verbatim.
#include "fuzz_support.hpp"
#include "mrv/core/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mrv::PublicKey key = mrv::fuzz::seed_public_key();
  std::string_view note = mrv::fuzz::as_text(data, size);
  auto checkpoint = mrv::parse_checkpoint(note);
  if (!checkpoint) return 0;
  MRV_FUZZ_CHECK(checkpoint->note == note);
  (void)mrv::verify_checkpoint(*checkpoint, key);
  return 0;
}
