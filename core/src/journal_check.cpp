// The start-up check of the chain's tail, and Journal::check_tail.
#include <vector>

#include "journal_impl.hpp"
#include "mrv/core/chain_verifier.hpp"

namespace mrv {

Result<ChainCheck> check_chain_tail(Journal::Impl& j, size_t max_records) {
  sqlite::Statement s(j.db,
                      "SELECT seq, canonical, hash, sig FROM records ORDER BY seq DESC LIMIT ?1");
  s.bind(1, static_cast<int64_t>(max_records));
  std::vector<StoredRecord> tail;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    tail.push_back({static_cast<uint64_t>(s.int64(0)), std::string(s.blob(1)),
                    std::string(s.blob(2)), std::string(s.blob(3))});
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "read chain tail"));
  std::reverse(tail.begin(), tail.end());

  // Damage before the newest chain segment was declared by it: check from there on.
  size_t first = 0;
  for (size_t i = tail.size(); i-- > 0;) {
    auto f = decode_record(tail[i].canonical);
    if (f && f->type == RecordType::chain_segment) {
      first = i;
      break;
    }
  }
  auto keys = j.load_keys();
  if (!keys) return tl::unexpected(keys.error());
  ChainVerifier verifier(*keys);
  for (size_t i = first; i < tail.size(); ++i) {
    const StoredRecord& r = tail[i];
    auto ok = verifier.check(r.seq, r.canonical, to_hex(r.hash), r.signature);
    if (!ok) return ChainCheck{false, "record " + std::to_string(r.seq) + ": " + ok.error().message};
  }
  return ChainCheck{};
}

Result<ChainCheck> Journal::check_tail(size_t max_records) {
  return check_chain_tail(*impl_, max_records);
}

}  // namespace mrv
