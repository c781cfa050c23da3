// The journal's copy of its site records (schema 4, table site_records): written with
// each site record, read by reports and `mrv-agent record list`.
#include "journal_impl.hpp"
#include "mrv/core/site_record.hpp"

namespace mrv {

std::string site_record_value_key(std::string_view entry_id) { return "site-record:" + std::string(entry_id); }

Result<void> Journal::Impl::copy_site_record(uint64_t seq, const Reading& reading, std::string_view canonical_bytes,
                                             std::string_view hash_raw, std::string_view signature_raw) {
  auto site = parse_site_record(reading);
  if (!site) {
    site.error().where = "record " + std::to_string(seq) + " " + site.error().where;
    return tl::unexpected(site.error());
  }
  if (!insert_site_record.ok())
    insert_site_record = sqlite::Statement(
        db, "INSERT INTO site_records (seq, kind, point, ts_ms, entry_id, canonical, hash, sig) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  insert_site_record.bind(1, static_cast<int64_t>(seq))
      .bind(2, to_string(site->kind))
      .bind(3, site->point)
      .bind(4, site->ts_ms)
      .bind(5, site->id)
      .bind_blob(6, canonical_bytes)
      .bind_blob(7, hash_raw)
      .bind_blob(8, signature_raw);
  int rc = insert_site_record.step();
  insert_site_record.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "copy site record " + std::to_string(seq)));
  return {};
}

Result<void> Journal::Impl::append_site_record(const AcceptedReading& a, size_t index, AppendOutcome& out) {
  if (a.type != RecordType::site_record)
    return fail(ErrorCode::invalid_argument, "batch item " + std::to_string(index),
                "only readings and site records are appended");
  auto site = parse_site_record(a.reading);  // the writer checked it; this gives its id
  if (!site) return tl::unexpected(site.error());
  // The same entry again (a retry after a lost answer): stored once, answered with the first.
  auto held = find_site_entry_seq(site->id);
  if (!held) return tl::unexpected(held.error());
  if (*held) {
    ++out.duplicates;
    out.duplicate_indexes.push_back(index);
    out.site_records.push_back({index, (*held)->first, (*held)->second, true});
    return {};
  }
  auto stored = insert_record(RecordType::site_record, a, site_record_value_key(site->id));
  if (!stored) return tl::unexpected(stored.error());
  if (!*stored)  // the value key holds the id, which site_records did not: they disagree
    return fail(ErrorCode::corruption, options.path.string(),
                "entry " + site->id + " is in records but not in site_records");
  Sha256 hash = sha256(canonical);
  auto raw = std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
  if (auto c = copy_site_record(last_seq, a.reading, canonical, raw, signature); !c) return c;
  ++out.stored;
  out.site_records.push_back({index, last_seq, last_hash_hex, false});
  return {};
}

Result<std::optional<std::pair<uint64_t, std::string>>> Journal::Impl::find_site_entry_seq(const std::string& id) {
  if (!find_site_entry.ok())
    find_site_entry = sqlite::Statement(db, "SELECT seq, hash FROM site_records WHERE entry_id = ?1 ORDER BY seq LIMIT 1");
  find_site_entry.bind(1, id);
  int rc = find_site_entry.step();
  std::optional<std::pair<uint64_t, std::string>> found;
  if (rc == SQLITE_ROW) found.emplace(static_cast<uint64_t>(find_site_entry.int64(0)), to_hex(find_site_entry.blob(1)));
  find_site_entry.reset();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "find site record " + id));
  return found;
}

Result<std::vector<StoredRecord>> Journal::site_records(uint64_t through_seq) {
  Impl& j = *impl_;
  std::vector<StoredRecord> out;
  // A journal an older agent wrote (schema 3, read-only here) has no such table, and no
  // site records.
  sqlite::Statement exists(j.db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'site_records'");
  if (exists.step() != SQLITE_ROW) return out;
  sqlite::Statement s(j.db, "SELECT seq, canonical, hash, sig FROM site_records WHERE seq <= ?1 ORDER BY seq");
  s.bind(1, static_cast<int64_t>(std::min<uint64_t>(through_seq, INT64_MAX)));
  int rc;
  while ((rc = s.step()) == SQLITE_ROW)
    out.push_back({static_cast<uint64_t>(s.int64(0)), std::string(s.blob(1)), std::string(s.blob(2)),
                   std::string(s.blob(3))});
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "read site records"));
  return out;
}

}  // namespace mrv
