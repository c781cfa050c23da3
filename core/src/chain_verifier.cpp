#include "mrv/core/chain_verifier.hpp"

#include "mrv/core/canonical.hpp"

namespace mrv {

ChainVerifier::ChainVerifier(std::span<const PublicKey> keys) : keys_(keys) {}

Result<const RecordFields*> ChainVerifier::check(uint64_t seq, std::string_view canonical,
                                                 std::string_view hash_hex,
                                                 std::string_view signature) {
  auto broken = [](std::string why) { return fail(ErrorCode::corruption, "", std::move(why)); };
  pending_key_ = nullptr;
  std::string hash = to_hex(sha256(canonical));
  if (hash != hash_hex) return broken("hash does not match the record");
  auto f = decode_record(canonical);
  if (!f) return broken("record: " + f.error().to_string());
  if (f->seq != seq) return broken("record says seq " + std::to_string(f->seq));
  const PublicKey* key = nullptr;
  for (const PublicKey& k : keys_)
    if (k.key_id_hex() == f->key_id_hex) key = &k;
  if (!key) return broken("signed by key " + f->key_id_hex + ", not a pinned key");
  if (f->algorithm == kCheckpointOnlyAlg) {
    // No signature of its own: the caller must find it under a signed checkpoint.
    if (!signature.empty()) return broken("a checkpoint-only record carries a signature");
    ++checkpoint_only_;
  } else {
    if (to_string(key->algorithm()) != f->algorithm)
      return broken("alg " + f->algorithm + " is not the algorithm of key " + f->key_id_hex);
    if (signature.empty()) return broken("bad signature");  // a signed alg with nothing to verify
    if (defer_signatures_) pending_key_ = key;
    else if (!key->verify(canonical, signature)) return broken("bad signature");
  }

  if (f->type == RecordType::chain_segment) {
    if ((records_ > 0 || resumed_) && seq <= prev_seq_) return broken("seq does not increase");
    declared_breaks_.push_back("seq " + std::to_string(seq) + ": " + f->reading.reason);
  } else if (records_ == 0 && !resumed_) {
    if (seq == 1 && f->prev_hash_hex != kGenesisPrevHash)
      return broken("the first record's prev is not all zeros");
  } else {
    if (seq != prev_seq_ + 1)
      return broken("sequence gap or reorder: expected seq " + std::to_string(prev_seq_ + 1));
    if (f->prev_hash_hex != prev_hash_hex_)
      return broken("prev does not match the hash of seq " + std::to_string(prev_seq_));
  }
  if (records_++ == 0) first_seq_ = seq;
  prev_seq_ = seq;
  prev_hash_hex_ = std::move(hash);
  fields_ = std::move(*f);
  return &fields_;
}

}  // namespace mrv
