#include "journal_schema.hpp"

#include <string>

#include "sqlite.hpp"

namespace mrv {
namespace {

// Step i takes a journal from schema version i to i + 1. Append, never edit.
constexpr const char* kMigrations[] = {
    R"sql(
    -- One row per record. canonical holds the signed bytes verbatim; the other columns
    -- are copies of its fields for queries and the duplicate check.
    CREATE TABLE records (
      seq       INTEGER PRIMARY KEY,
      point     TEXT    NOT NULL,
      source    TEXT    NOT NULL,
      ts_ms     INTEGER NOT NULL,
      value     TEXT    NOT NULL,
      canonical BLOB    NOT NULL,
      hash      BLOB    NOT NULL,
      sig       BLOB    NOT NULL
    );
    -- A reading redelivered by its source (same time, point, source, value) is stored
    -- once. Time first: new entries land at the right edge (few hot pages), and an
    -- export by time range is an index range scan.
    CREATE UNIQUE INDEX records_by_time ON records (ts_ms, point, source, value);
    -- The newest reading (by ts_ms) of each point, for status.
    CREATE TABLE point_heads (
      point TEXT PRIMARY KEY,
      seq   INTEGER NOT NULL,
      ts_ms INTEGER NOT NULL
    );
    CREATE TABLE keys (
      key_id     TEXT PRIMARY KEY,
      algorithm  TEXT NOT NULL,
      public_pem TEXT NOT NULL,
      first_used_ms INTEGER NOT NULL
    );
    CREATE TABLE configs (
      hash TEXT PRIMARY KEY,
      text BLOB NOT NULL,
      first_used_ms INTEGER NOT NULL
    );
    -- Upload cursors: the highest seq a registry has receipted, per destination.
    CREATE TABLE cursors (name TEXT PRIMARY KEY, seq INTEGER NOT NULL);
    -- pruned_through_seq / pruned_head_hash: where the chain continues after pruning.
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    )sql",
    R"sql(
    -- Messages a collector could not turn into readings: raw bytes and why (bounded).
    CREATE TABLE quarantine (
      id           INTEGER PRIMARY KEY,
      received_ms  INTEGER NOT NULL,
      source       TEXT    NOT NULL,
      subscription TEXT    NOT NULL,
      topic        TEXT    NOT NULL,
      reason       TEXT    NOT NULL,
      detail       TEXT    NOT NULL,
      payload      BLOB    NOT NULL
    );
    CREATE INDEX quarantine_by_time ON quarantine (received_ms);
    )sql",
    R"sql(
    -- The Merkle tree over the records (docs/verification.md §2): leaf hashes, 256 per
    -- chunk row, and the complete subtrees of 256 leaves and more.
    CREATE TABLE merkle_leaves (chunk INTEGER PRIMARY KEY, hashes BLOB NOT NULL);
    CREATE TABLE merkle_nodes (
      level INTEGER NOT NULL,
      idx   INTEGER NOT NULL,
      hash  BLOB    NOT NULL,
      PRIMARY KEY (level, idx)
    ) WITHOUT ROWID;
    -- Signed tree heads (C2SP signed notes), newest last.
    CREATE TABLE checkpoints (
      id        INTEGER PRIMARY KEY,
      tree_size INTEGER NOT NULL,
      made_ms   INTEGER NOT NULL,
      reason    TEXT    NOT NULL,
      note      TEXT    NOT NULL
    );
    CREATE INDEX checkpoints_by_size ON checkpoints (tree_size);
    -- Seqs the journal never held (skipped before a chain-segment record): absent leaves,
    -- kept as ranges so a long skip costs a row, not a leaf each.
    CREATE TABLE merkle_absent (first_seq INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL);
    )sql",
    R"sql(
    -- Site records (people's entries, docs/record-format.md §1.6): a copy of each, written
    -- in the transaction of its record, so a report finds every calibration and meter
    -- exchange without reading the chain, also after uploaded records are pruned.
    -- entry_id finds a retried entry (the agent stores an id once; a registry's mirror
    -- keeps whatever the site signed, so it is not unique).
    CREATE TABLE site_records (
      seq       INTEGER PRIMARY KEY,
      kind      TEXT    NOT NULL,
      point     TEXT    NOT NULL,
      ts_ms     INTEGER NOT NULL,
      entry_id  TEXT    NOT NULL,
      canonical BLOB    NOT NULL,
      hash      BLOB    NOT NULL,
      sig       BLOB    NOT NULL
    );
    CREATE INDEX site_records_by_entry ON site_records (entry_id);
    )sql",
    R"sql(
    -- The agent's starts bound to the TPM's monotonic counter (docs/verification.md §8.4):
    -- the counter value the TPM certified at a start, the journal head it certified it
    -- with, and the certification as the JSON a bundle's tpm_starts.json lists.
    CREATE TABLE tpm_starts (
      counter  INTEGER PRIMARY KEY,
      head_seq INTEGER NOT NULL,
      entry    TEXT    NOT NULL
    );
    )sql",
    R"sql(
    -- Cosignatures of checkpoints (docs/verification.md §3.1): signature lines a registry
    -- made over a checkpoint it held. The agent keeps those its receipts carry; a
    -- registry keeps those it made.
    CREATE TABLE cosignatures (
      checkpoint_id INTEGER NOT NULL,
      line          TEXT    NOT NULL,
      PRIMARY KEY (checkpoint_id, line)
    ) WITHOUT ROWID;
    )sql",
};

int user_version(sqlite3* db) {
  sqlite::Statement s(db, "PRAGMA user_version");
  return s.step() == SQLITE_ROW ? static_cast<int>(s.int64(0)) : -1;
}

}  // namespace

Result<void> migrate_journal(sqlite3* db) {
  int version = user_version(db);
  if (version > kJournalSchemaVersion)
    return fail(ErrorCode::storage, "schema",
                "journal schema version " + std::to_string(version) +
                    " is newer than this agent understands (" +
                    std::to_string(kJournalSchemaVersion) + ")");
  for (int v = version; v < kJournalSchemaVersion; ++v) {
    std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] +
                      "PRAGMA user_version = " + std::to_string(v + 1) + "; COMMIT;";
    if (auto r = sqlite::exec(db, sql.c_str(), "schema migration"); !r) {
      (void)sqlite::exec(db, "ROLLBACK", "rollback");
      return r;
    }
  }
  return {};
}

}  // namespace mrv
