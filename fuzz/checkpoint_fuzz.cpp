// Checkpoint notes (docs/verification.md §3, C2SP signed note): what a bundle, a
// registry and `verify --since-checkpoint` read. A parsed note keeps its text verbatim.
// Each of its lines is also read as a cosignature (§3.1), as a bundle's "cosignatures"
// and an agent reading a receipt do, and checked over the note.
#include <algorithm>

#include "fuzz_support.hpp"
#include "mrv/core/checkpoint.hpp"
#include "mrv/core/cosignature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mrv::PublicKey key = mrv::fuzz::seed_public_key();
  std::string_view note = mrv::fuzz::as_text(data, size);
  for (size_t start = 0; start < note.size();) {
    size_t end = std::min(note.find('\n', start), note.size());
    if (auto c = mrv::parse_cosignature(note.substr(start, end - start))) {
      MRV_FUZZ_CHECK(c->key_id.size() == 4 && c->signature.size() == 64);
      (void)mrv::check_cosignature(*c, key, note);
    }
    start = end + 1;
  }
  auto checkpoint = mrv::parse_checkpoint(note);
  if (!checkpoint) return 0;
  MRV_FUZZ_CHECK(checkpoint->note == note);
  (void)mrv::verify_checkpoint(*checkpoint, key);
  return 0;
}
