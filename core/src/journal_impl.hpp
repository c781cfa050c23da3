#pragma once
// The journal's private state, shared by the files that implement Journal.
#include <unistd.h>

#include <chrono>
#include <map>
#include <string_view>
#include <unordered_map>
#include <optional>

#include "mrv/core/canonical.hpp"
#include "mrv/core/journal.hpp"
#include "journal_tree.hpp"
#include "mrv/core/clock.hpp"
#include "sqlite.hpp"

namespace mrv {

inline constexpr auto kAnchorInterval = std::chrono::milliseconds(200);
inline constexpr int64_t kBoundaryMs = 15 * 60 * 1000;  // every time zone's midnight is on one

struct Journal::Impl {
  sqlite3* db = nullptr;
  JournalOptions options;
  std::optional<Signer> signer;
  std::optional<PublicKey> public_key;  // the signer's, for checkpoint signature lines
  std::string algorithm_name;
  LatencyHistogram sign_latency;
  JournalTree tree;
  std::string origin;  // of checkpoints
  // The newest checkpoint: its tree size, when (steady clock) and its mrv-time-ms.
  struct CheckpointMark {
    uint64_t size = 0;
    std::chrono::steady_clock::time_point at{};
    int64_t utc_ms = 0;
  } checkpoint_mark;
  ChainCheck chain_check;

  uint64_t last_seq = 0;
  std::string last_hash_hex{kGenesisPrevHash};

  sqlite::Statement begin, commit, rollback, insert, upsert_point_head, insert_quarantine,
      trim_quarantine, insert_checkpoint;
  sqlite::Statement insert_site_record, find_site_entry;  // prepared at first use (site records are rare)
  // The newest stored reading of each point in the batch being appended (status reads
  // point_heads instead of searching the records). Reused between batches.
  std::unordered_map<std::string_view, std::pair<uint64_t, int64_t>> batch_heads;
  std::string canonical;  // reused encode buffer
  std::string signature;  // of the last record insert_record made
  RecordFields fields;    // reused between records: keeps string capacity

  std::chrono::steady_clock::time_point anchor_written_at{};
  bool anchor_stale = false;  // commits since the anchor was last written
  int lock_fd = -1;  // flock()ed <journal>.lock: one writing agent per journal

  ~Impl() {
    sqlite3_close_v2(db);
    if (lock_fd >= 0) ::close(lock_fd);
  }

  void prepare_writer_statements() {
    begin = sqlite::Statement(db, "BEGIN IMMEDIATE");
    commit = sqlite::Statement(db, "COMMIT");
    rollback = sqlite::Statement(db, "ROLLBACK");
    // A redelivered reading (same time, point, source and value) hits the unique index
    // and changes nothing: one B-tree search instead of a lookup and an insert.
    insert = sqlite::Statement(
        db, "INSERT INTO records (seq, point, source, ts_ms, value, canonical, hash, sig) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
            "ON CONFLICT (ts_ms, point, source, value) DO NOTHING");
    insert_quarantine = sqlite::Statement(
        db, "INSERT INTO quarantine (received_ms, source, subscription, topic, reason, detail, "
            "payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    trim_quarantine = sqlite::Statement(
        db, "DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ?1");
    insert_checkpoint = sqlite::Statement(
        db, "INSERT INTO checkpoints (tree_size, made_ms, reason, note) VALUES (?1, ?2, ?3, ?4)");
    upsert_point_head = sqlite::Statement(
        db, "INSERT INTO point_heads (point, seq, ts_ms) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (point) DO UPDATE SET seq = excluded.seq, ts_ms = excluded.ts_ms "
            "WHERE excluded.ts_ms >= point_heads.ts_ms");
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

  // One signed, chained record into the open transaction. Advances the head and returns
  // true when stored; false (head unchanged) when the journal already holds the reading.
  // value_key: the records.value column, the last part of the duplicate key; a site
  // record's holds its entry id (site_record_value_key), the reading's value otherwise.
  Result<bool> insert_record(RecordType type, const AcceptedReading& accepted,
                             std::optional<std::string_view> value_key = std::nullopt) {
    fields.type = type;
    fields.seq = last_seq + 1;
    fields.prev_hash_hex = last_hash_hex;
    fields.reading = accepted.reading;  // copy-assign: reuses the strings' capacity
    fields.received = accepted.received;
    if (auto r = encode_record(fields, canonical); !r) {
      r.error().where = "record " + std::to_string(fields.seq) + " " + r.error().where;
      return tl::unexpected(r.error());
    }
    Sha256 hash = sha256(canonical);
    signature.clear();
    if (!options.checkpoint_only) {
      auto signing = std::chrono::steady_clock::now();
      auto signed_bytes = signer->sign(canonical, hash);
      if (!signed_bytes) return tl::unexpected(signed_bytes.error());
      sign_latency.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - signing).count());
      signature = std::move(*signed_bytes);
    }
    const Reading& rd = fields.reading;
    insert.bind(1, static_cast<int64_t>(fields.seq))
        .bind(2, rd.point_id)
        .bind(3, rd.source)
        .bind(4, rd.ts_ms)
        .bind(5, value_key ? *value_key : std::string_view(rd.value))
        .bind_blob(6, canonical)
        .bind_blob(7, std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()))
        .bind_blob(8, signature);
    int rc = insert.step();
    insert.reset();
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "insert record"));
    if (sqlite3_changes(db) == 0) return false;
    if (auto r = tree.append(fields.seq, merkle_leaf_hash(canonical)); !r) return tl::unexpected(r.error());
    last_seq = fields.seq;
    last_hash_hex = to_hex(hash);
    return true;
  }

  // Every key that has signed records in this journal.
  Result<std::vector<PublicKey>> load_keys() {
    std::vector<PublicKey> keys;
    sqlite::Statement s(db, "SELECT public_pem FROM keys");
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      auto key = PublicKey::from_pem(s.text(0));
      if (key) keys.push_back(std::move(*key));
    }
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read keys"));
    return keys;
  }

  // Site records (journal_site_records.cpp). The copy in site_records of the record just
  // stored at `seq` (its reading checked as a site record), in the open transaction.
  Result<void> copy_site_record(uint64_t seq, const Reading& reading, std::string_view canonical_bytes,
                                std::string_view hash_raw, std::string_view signature_raw);
  // Appends a site record of a batch into the open transaction: stored as a record of
  // type site-record and copied, or, when the journal holds its entry id already, counted
  // a duplicate; either way its SiteRecordCommit goes into `out`.
  Result<void> append_site_record(const AcceptedReading& accepted, size_t index, AppendOutcome& out);
  // The seq and hash (hex) of the record holding entry `id`, if the journal holds one.
  Result<std::optional<std::pair<uint64_t, std::string>>> find_site_entry_seq(const std::string& id);

  Result<void> apply_chain_policy();
  // Leaves for records stored before the tree existed (a journal from schema 2).
  Result<void> catch_up_tree();
  // Signs a checkpoint of the tree into the open transaction (tree flushed first).
  Result<Checkpoint> add_checkpoint(std::string_view reason);
  // Why a checkpoint is due now ("" when none is): the record count, the interval, or a
  // quarter-hour boundary of the UTC clock since the last one, so that every monitoring
  // period boundary (a day start in any time zone) has a checkpoint right after it.
  const char* checkpoint_reason(std::chrono::steady_clock::time_point now) const {
    const CheckpointMark& m = checkpoint_mark;
    if (tree.size() == m.size) return "";
    if (utc_now_ms() / kBoundaryMs > m.utc_ms / kBoundaryMs) return "boundary";
    if (options.checkpoint_max_records > 0 && tree.size() - m.size >= options.checkpoint_max_records) return "records";
    if (now - m.at >= std::chrono::milliseconds(options.checkpoint_interval_ms)) return "interval";
    return "";
  }
};

// The records.value column of a site record: its entry id, so that two entries never
// meet in the duplicate key (ts_ms, point, source, value) of readings, whatever their
// time, point, login and value. journal_site_records.cpp.
std::string site_record_value_key(std::string_view entry_id);

// Opens the SQLite file with the journal's connection settings (busy timeout, extended
// result codes). journal.cpp.
[[nodiscard]] Result<sqlite3*> open_db(const std::filesystem::path& path, int flags);

// Re-checks the newest records (from the last chain segment on, at most max_records):
// hash, canonical form, seq, link and signature. journal_check.cpp.
[[nodiscard]] Result<ChainCheck> check_chain_tail(Journal::Impl& j, size_t max_records);


// Fills each checkpoint's cosignatures (none in a journal older than schema 6).
[[nodiscard]] Result<void> attach_cosignatures(sqlite3* db, std::vector<StoredCheckpoint>& checkpoints);

}  // namespace mrv
