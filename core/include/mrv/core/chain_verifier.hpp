#pragma once
// The checks a verifier makes on a run of records, in seq order, trusting nothing but
// the public keys it is given (docs/record-format.md §4). The journal's start-up check
// and `mrv-agent verify` both use it, so the two can never disagree.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/core/canonical.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/reading.hpp"

namespace mrv {

class ChainVerifier {
 public:
  // `keys` must outlive the verifier.
  explicit ChainVerifier(std::span<const PublicKey> keys);

  // Checks one record: its hash, canonical form, seq, key, signature, and its link to
  // the record checked before it (a chain-segment record is a declared break instead).
  // On failure returns what is wrong, without the record's location, and the verifier
  // keeps its state (the next record is checked against the last good one).
  [[nodiscard]] Result<const RecordFields*> check(uint64_t seq, std::string_view canonical,
                                                  std::string_view hash_hex,
                                                  std::string_view signature);

  // Continues a chain whose record `seq` (hash `hash_hex`) was checked before: a
  // registry resumes from the last record it holds. From seq 0 the next record must be
  // seq 1 with the genesis prev (or a declared break), not any seq a bundle may start at.
  void resume(uint64_t seq, std::string hash_hex) {
    prev_seq_ = seq;
    prev_hash_hex_ = seq == 0 ? std::string(kGenesisPrevHash) : std::move(hash_hex);
    resumed_ = true;
  }

  // With deferred signatures, check() does everything but the signature check itself and
  // leaves the key that must verify it in pending_key() (nullptr: none to check), so a
  // caller can verify signatures on other threads.
  void defer_signatures(bool defer) { defer_signatures_ = defer; }
  const PublicKey* pending_key() const { return pending_key_; }

  uint64_t records() const { return records_; }
  // Records with alg "checkpoint": chained, but proven only by a signed checkpoint.
  uint64_t checkpoint_only_records() const { return checkpoint_only_; }
  uint64_t first_seq() const { return first_seq_; }
  uint64_t last_seq() const { return prev_seq_; }
  // "seq N: reason" for each chain-segment record checked.
  const std::vector<std::string>& declared_breaks() const { return declared_breaks_; }

 private:
  std::span<const PublicKey> keys_;
  bool defer_signatures_ = false, resumed_ = false;
  const PublicKey* pending_key_ = nullptr;
  RecordFields fields_;
  uint64_t records_ = 0, first_seq_ = 0, prev_seq_ = 0, checkpoint_only_ = 0;
  std::string prev_hash_hex_;
  std::vector<std::string> declared_breaks_;
};

}  // namespace mrv
