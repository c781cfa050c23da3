// The start-up check of the chain's tail, and Journal::check_tail.
#include <vector>

#include "journal_impl.hpp"

namespace mrv {

Result<ChainCheck> check_chain_tail(Journal::Impl& j, size_t max_records) {
  // Newest first; one record more than checked, to check the oldest one's link.
  sqlite::Statement s(j.db,
                      "SELECT seq, canonical, hash, sig FROM records ORDER BY seq DESC LIMIT ?1");
  s.bind(1, static_cast<int64_t>(max_records + 1));
  std::vector<StoredRecord> tail;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    tail.push_back({static_cast<uint64_t>(s.int64(0)), std::string(s.blob(1)),
                    std::string(s.blob(2)), std::string(s.blob(3))});
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "read chain tail"));
  std::reverse(tail.begin(), tail.end());
  if (tail.empty()) return ChainCheck{};

  auto keys = j.load_keys();
  if (!keys) return tl::unexpected(keys.error());
  auto broken = [](uint64_t seq, const std::string& why) {
    return ChainCheck{false, "record " + std::to_string(seq) + ": " + why};
  };
  // Damage before the newest chain segment was declared by it: check from there on.
  // tail[0] is only the link anchor when the window is full.
  size_t first = tail.size() > max_records ? 1 : 0;
  for (size_t i = tail.size(); i-- > first;) {
    auto f = decode_record(tail[i].canonical);
    if (f && f->type == RecordType::chain_segment) {
      first = i;
      break;
    }
  }
  for (size_t i = first; i < tail.size(); ++i) {
    const StoredRecord& r = tail[i];
    if (to_hex(sha256(r.canonical)) != to_hex(r.hash)) return broken(r.seq, "hash mismatch");
    auto f = decode_record(r.canonical);
    if (!f) return broken(r.seq, f.error().to_string());
    if (f->seq != r.seq) return broken(r.seq, "stored under another seq");
    auto key = keys->find(f->key_id_hex);
    if (key == keys->end()) return broken(r.seq, "signed by unknown key " + f->key_id_hex);
    if (!key->second.verify(r.canonical, r.signature)) return broken(r.seq, "bad signature");
    if (i == 0 || f->type == RecordType::chain_segment) continue;
    if (f->seq != tail[i - 1].seq + 1)
      return broken(r.seq, "follows seq " + std::to_string(tail[i - 1].seq));
    if (f->prev_hash_hex != to_hex(tail[i - 1].hash))
      return broken(r.seq, "prev does not match the hash of record " +
                               std::to_string(tail[i - 1].seq));
  }
  return ChainCheck{};
}

Result<ChainCheck> Journal::check_tail(size_t max_records) {
  return check_chain_tail(*impl_, max_records);
}

}  // namespace mrv
