// The agent's starts bound to the TPM's monotonic counter (schema 5, table tpm_starts;
// docs/verification.md §8.4): written once per start, read by export.
#include <limits>

#include "journal_impl.hpp"

namespace mrv {

Result<void> Journal::add_tpm_start(const TpmStart& start) {
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (start.counter > kMax || start.head_seq > kMax)
    return fail(ErrorCode::invalid_argument, "tpm start", "counter or seq beyond 2^63 - 1");
  sqlite::Statement s(impl_->db, "INSERT INTO tpm_starts (counter, head_seq, entry) VALUES (?1, ?2, ?3)");
  s.bind(1, static_cast<int64_t>(start.counter)).bind(2, static_cast<int64_t>(start.head_seq)).bind(3, start.entry);
  int rc = s.step();
  if (rc != SQLITE_DONE)
    return tl::unexpected(sqlite::error_of(impl_->db, rc, "store TPM start " + std::to_string(start.counter)));
  return {};
}

Result<std::vector<TpmStart>> Journal::tpm_starts(uint64_t from_seq, uint64_t to_seq) {
  if (!sqlite::has_table(impl_->db, "tpm_starts")) return std::vector<TpmStart>();
  sqlite::Statement s(impl_->db,
                      "SELECT counter, head_seq, entry FROM tpm_starts WHERE head_seq BETWEEN ?1 AND ?2 "
                      "ORDER BY counter");
  s.bind(1, static_cast<int64_t>(from_seq)).bind(2, static_cast<int64_t>(std::min<uint64_t>(to_seq, INT64_MAX)));
  std::vector<TpmStart> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back({static_cast<uint64_t>(s.int64(0)), static_cast<uint64_t>(s.int64(1)), std::string(s.text(2))});
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read TPM starts"));
  return out;
}

Result<std::optional<uint64_t>> Journal::last_tpm_counter() {
  if (!sqlite::has_table(impl_->db, "tpm_starts")) return std::optional<uint64_t>();
  sqlite::Statement s(impl_->db, "SELECT max(counter) FROM tpm_starts");
  int rc = s.step();
  if (rc != SQLITE_ROW) return tl::unexpected(sqlite::error_of(impl_->db, rc, "read TPM starts"));
  if (s.is_null(0)) return std::optional<uint64_t>();
  return std::optional<uint64_t>(static_cast<uint64_t>(s.int64(0)));
}

}  // namespace mrv
