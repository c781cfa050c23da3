#pragma once
// The journal's private state, shared by the files that implement Journal.
#include <map>
#include <optional>

#include "mrv/core/canonical.hpp"
#include "mrv/core/journal.hpp"
#include "sqlite.hpp"

namespace mrv {

struct Journal::Impl {
  sqlite3* db = nullptr;
  JournalOptions options;
  bool read_only = false;
  std::optional<Signer> signer;
  std::string algorithm_name;
  ChainCheck chain_check;

  uint64_t last_seq = 0;
  std::string last_hash_hex{kGenesisPrevHash};

  sqlite::Statement begin, commit, rollback, insert, find_duplicate;
  std::string canonical;  // reused encode buffer
  RecordFields fields;    // reused between records: keeps string capacity

  ~Impl() { sqlite3_close_v2(db); }

  void prepare_writer_statements() {
    begin = sqlite::Statement(db, "BEGIN IMMEDIATE");
    commit = sqlite::Statement(db, "COMMIT");
    rollback = sqlite::Statement(db, "ROLLBACK");
    insert = sqlite::Statement(
        db, "INSERT INTO records (seq, point, source, ts_ms, value, canonical, hash, sig) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    find_duplicate = sqlite::Statement(
        db, "SELECT 1 FROM records WHERE point = ?1 AND ts_ms = ?2 AND source = ?3 "
            "AND value = ?4");
  }

  Result<std::string> meta(const char* key) {
    sqlite::Statement s(db, "SELECT value FROM meta WHERE key = ?1");
    s.bind(1, std::string_view(key));
    int rc = s.step();
    if (rc == SQLITE_ROW) return std::string(s.text(0));
    if (rc == SQLITE_DONE) return std::string();
    return tl::unexpected(sqlite::error_of(db, rc, "read meta"));
  }

  // Loads the chain head: the last record, or what pruning left behind.
  Result<void> load_head() {
    sqlite::Statement s(db, "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1");
    int rc = s.step();
    if (rc == SQLITE_ROW) {
      last_seq = static_cast<uint64_t>(s.int64(0));
      last_hash_hex = to_hex(s.blob(1));
      return {};
    }
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read chain head"));
    auto pruned_seq = meta("pruned_through_seq");
    auto pruned_hash = meta("pruned_head_hash");
    if (!pruned_seq) return tl::unexpected(pruned_seq.error());
    if (!pruned_hash) return tl::unexpected(pruned_hash.error());
    if (!pruned_seq->empty()) {
      last_seq = std::stoull(*pruned_seq);
      last_hash_hex = *pruned_hash;
    }
    return {};
  }

  // One signed, chained record into the open transaction. Advances the head on success.
  Result<void> insert_record(RecordType type, AcceptedReading& accepted) {
    fields.type = type;
    fields.seq = last_seq + 1;
    fields.prev_hash_hex = last_hash_hex;
    fields.reading = std::move(accepted.reading);
    fields.received = accepted.received;
    if (auto r = encode_record(fields, canonical); !r) {
      r.error().where = "record " + std::to_string(fields.seq) + " " + r.error().where;
      return r;
    }
    Sha256 hash = sha256(canonical);
    auto signature = signer->sign(canonical);
    if (!signature) return tl::unexpected(signature.error());
    const Reading& rd = fields.reading;
    insert.bind(1, static_cast<int64_t>(fields.seq))
        .bind(2, rd.point_id)
        .bind(3, rd.source)
        .bind(4, rd.ts_ms)
        .bind(5, rd.value)
        .bind_blob(6, canonical)
        .bind_blob(7, std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()))
        .bind_blob(8, *signature);
    int rc = insert.step();
    insert.reset();
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "insert record"));
    last_seq = fields.seq;
    last_hash_hex = to_hex(hash);
    return {};
  }

  bool is_duplicate(const Reading& r) {
    find_duplicate.bind(1, r.point_id).bind(2, r.ts_ms).bind(3, r.source).bind(4, r.value);
    bool found = find_duplicate.step() == SQLITE_ROW;
    find_duplicate.reset();
    return found;
  }

  Result<std::map<std::string, PublicKey>> load_keys() {
    std::map<std::string, PublicKey> keys;
    sqlite::Statement s(db, "SELECT key_id, public_pem FROM keys");
    while (s.step() == SQLITE_ROW) {
      auto key = PublicKey::from_pem(s.text(1));
      if (key) keys.emplace(std::string(s.text(0)), std::move(*key));
    }
    return keys;
  }

  Result<void> apply_chain_policy();
};

// Re-checks the newest records (from the last chain segment on, at most max_records):
// hash, canonical form, seq, link and signature. journal_check.cpp.
[[nodiscard]] Result<ChainCheck> check_chain_tail(Journal::Impl& j, size_t max_records);


}  // namespace mrv
