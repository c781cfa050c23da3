#pragma once
// The journal: the durable, signed, hash-chained sequence of records in one SQLite file
// (WAL mode). One Journal object is the only writer of its file; readers (status,
// export) open their own read-only Journal. Not thread-safe: JournalWriter owns the
// writing one on its own thread.
//
// Durability (docs/journal.md): a record is durable once append() returns. kill -9
// loses nothing committed. Power loss loses nothing committed with synchronous=full;
// with synchronous=normal it may roll back the last commits, which the head anchor
// file then exposes as a chain break at the next start.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "mrv/core/checkpoint.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/merkle.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/histogram.hpp"
#include "mrv/core/error.hpp"
#include "mrv/core/reading.hpp"

namespace mrv {

struct StoredRecord;  // below

// A record, kept outside the journal, of how far it once reached (docs/journal.md,
// "Witnesses of the head"): besides the head anchor file, which the journal keeps
// itself, the agent's state file and the registry. A journal that ends before a
// witness's seq, or holds another record there, was rolled back or replaced.
struct HeadWitness {
  std::string name;      // "state file", "registry": said in the problem and the segment's reason
  uint64_t seq = 0;
  std::string hash_hex;  // of record `seq`; "" when the witness knows only the seq
  // Set when the witness holds the records themselves (the registry): those from
  // `from_seq` on, at most `max`, in seq order. Under "new-segment" the journal takes
  // back what it lost from them, each checked like any record (hash, seq, key,
  // signature, link), before it declares the break: nothing the witness holds is lost,
  // and the tree over those seqs stays the witness's.
  std::function<Result<std::vector<StoredRecord>>(uint64_t from_seq, size_t max)> records = {};
};

struct JournalOptions {
  std::filesystem::path path;
  Synchronous synchronous = Synchronous::full;
  uint64_t quota_bytes = 1024ull << 20;
  ChainBreakPolicy on_chain_break = ChainBreakPolicy::new_segment;
  std::string site_id;
  std::string config_hash_hex;
  std::string config_text;  // stored once per hash so records can name their config
  std::string boot_id;
  int quarantine_max_rows = 10'000;  // oldest quarantined messages beyond this are deleted
  // Checkpoints (signed tree heads): at most this long after a record, or after this many
  // records (0: no count limit). checkpoint_only: records carry no signature of their
  // own; only checkpoints are signed (docs/verification.md §5).
  int checkpoint_interval_ms = 60'000;
  uint64_t checkpoint_max_records = 0;
  bool checkpoint_only = false;
  // Checked at open with the head anchor; on_chain_break says what a rollback they
  // show leads to.
  std::vector<HeadWitness> head_witnesses = {};
};

// A reading as the agent accepted it: what the collector saw plus our clock then.
struct AcceptedReading {
  Reading reading;
  ClockSample received;
  // reading, or site_record: a person's entry (core/site_record.hpp), whose reading
  // site_record_reading made. Never chain_segment: the journal makes those itself.
  RecordType type = RecordType::reading;
};

// A message a collector could not turn into readings, kept for people to look at (not
// signed, not chained: it is evidence of what arrived, not a reading).
struct QuarantinedMessage {
  int64_t received_ms = 0;
  std::string source;        // "mqtt:broker-name"
  std::string subscription;  // the topic template it matched ("" when none)
  std::string topic;
  std::string reason;        // a BadInput name: invalid_json, not_numeric, ...
  std::string detail;
  std::string payload;       // raw bytes, as received
};

struct QuarantineRow : QuarantinedMessage {
  int64_t id = 0;
};

// A record as stored: its canonical bytes verbatim, their SHA-256 and the signature.
struct StoredRecord {
  uint64_t seq = 0;
  std::string canonical;
  std::string hash;       // 32 raw bytes
  std::string signature;  // raw bytes
};

// What the start-up check of the chain's tail found.
struct ChainCheck {
  bool intact = true;
  std::string problem;  // why not, naming the record
};

// Where a site record of a batch went: the record that holds its entry.
struct SiteRecordCommit {
  size_t index = 0;       // its place in the batch
  uint64_t seq = 0;       // the record holding the entry
  std::string hash_hex;   // that record's hash
  bool duplicate = false; // the journal held this entry id already (a retry): seq is the earlier one
};

struct AppendOutcome {
  size_t stored = 0;
  // Readings: same point, timestamp, value and source already held; site records: the
  // same entry id already held.
  size_t duplicates = 0;
  std::vector<size_t> duplicate_indexes;  // their places in the batch, ascending (rarely any)
  std::vector<SiteRecordCommit> site_records;  // one per site record of the batch, in batch order
  bool head_anchor_written = true;  // false: rollback detection is weakened until it is
};

// A checkpoint as kept in the journal: why and when it was made.
struct StoredCheckpoint {
  int64_t id = 0;
  std::string reason;  // start, interval, stop, export, upload, period
  Checkpoint checkpoint;
  // Cosignature lines (docs/verification.md §3.1), without their final newline.
  std::vector<std::string> cosignatures;
};

struct PointLast {
  std::string point_id;
  uint64_t seq = 0;
  std::string value, unit, quality;
  int64_t ts_ms = 0;
};

// A record a registry has verified, to store verbatim in its mirror of the site's journal.
struct MirrorRecord {
  uint64_t seq = 0;
  std::string canonical, signature;  // signature: raw bytes ("" for checkpoint-only)
  Sha256 hash{};
  std::string point, source, value;
  int64_t ts_ms = 0;
};

// A start of the agent bound to the TPM's monotonic counter (docs/verification.md §8.4).
struct TpmStart {
  uint64_t counter = 0;   // the value the TPM certified
  uint64_t head_seq = 0;  // the journal's last record when the agent started
  std::string entry;      // the certification: one JSON object of tpm_starts.json
};

// The readings of one UTC day (Journal::coverage_by_day).
struct DayCoverage {
  int64_t day_ms = 0;  // midnight UTC
  uint64_t records = 0, points = 0;
  int64_t first_ms = 0, last_ms = 0;
  uint64_t first_seq = 0, last_seq = 0;
};

struct JournalStats {
  uint64_t first_seq = 0, last_seq = 0, record_count = 0;
  uint64_t used_bytes = 0, file_bytes = 0, quota_bytes = 0;
  uint64_t upload_cursor = 0;  // highest seq the registry has receipted
  std::string head_hash_hex;
};

class Journal {
 public:
  // Opens or creates the journal, migrates its schema, checks the chain's tail against
  // the head anchor and applies the chain-break policy: refuse (error) or open a new
  // chain segment whose first record names the old head and the reason.
  [[nodiscard]] static Result<Journal> open_for_writing(const JournalOptions& options,
                                                        Signer signer);
  [[nodiscard]] static Result<Journal> open_read_only(const std::filesystem::path& path);
  // Whether a process has the journal open for writing now (holds `<journal>.lock`; the
  // lock dies with its process, so a kill -9 reads as not running at once). Takes and
  // drops a shared lock: a writer starting in that instant retries (open_for_writing).
  [[nodiscard]] static Result<bool> writer_running(const std::filesystem::path& path);
  // A registry's copy of one site's journal (journal_mirror.cpp): the same file format, so
  // every read query and the bundle export work on it, but records arrive signed by the
  // site and verified by the caller, and are stored verbatim. synchronous=FULL: a
  // receipt is only given for what survives power loss.
  [[nodiscard]] static Result<Journal> open_mirror(const std::filesystem::path& path);
  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) noexcept;
  ~Journal();

  // Signs, chains and commits the readings in one transaction. On failure nothing of the
  // batch is stored and the chain state is as before.
  // Quarantined messages go in the same transaction.
  [[nodiscard]] Result<AppendOutcome> append(std::span<const AcceptedReading> batch,
                                             std::span<const QuarantinedMessage> quarantined = {});

  // Records made from now on name this config (a reload): its text is kept under its
  // hash, so records and reports name the config they were made under.
  [[nodiscard]] Result<void> set_config(const std::string& hash_hex, const std::string& text);
  // How long signing a record took, per record, since open (writer side).
  const LatencyHistogram& sign_latency() const;
  const std::string& config_hash_hex() const;  // the config new records name

  // Prunes receipted records, oldest first, while over quota. Returns true when the
  // journal is then under its quota (new readings may be accepted).
  [[nodiscard]] Result<bool> enforce_quota();
  // Prunes one chunk of receipted records, oldest first, whatever the quota: room for a
  // retry when the disk is full. Returns how many records went (0: none receipted).
  [[nodiscard]] Result<uint64_t> prune_receipted();
  // Records the registry's receipt through `seq` (never beyond the head, never backwards).
  [[nodiscard]] Result<void> set_upload_cursor(uint64_t seq);

  // Makes a checkpoint of the whole tree now, unless the newest one already covers it
  // (then nullopt).
  [[nodiscard]] Result<std::optional<Checkpoint>> checkpoint(std::string_view reason);
  // When the next checkpoint is due (records not yet covered): within the interval, and
  // at each quarter-hour boundary of the UTC clock; nullopt when none is.
  std::optional<std::chrono::steady_clock::time_point> checkpoint_due() const;
  // Why the checkpoint due now is made ("interval" or "boundary").
  const char* checkpoint_reason() const;

  // Mirror side. Stores records in one transaction; each seq must be above the head (a
  // skip, before a chain-segment record, becomes absent leaves). Nothing is stored on
  // failure. With `root_after`, the tree they complete must have that root (records
  // proven by a checkpoint), else nothing is stored and the error is `corruption`.
  [[nodiscard]] Result<void> ingest(std::span<const MirrorRecord> records, const Sha256* root_after = nullptr);
  // Registers a key (true) or finds it registered (false).
  [[nodiscard]] Result<bool> add_key(const PublicKey& key, int64_t registered_ms);
  // Stores a config text under its hash; false when held already.
  [[nodiscard]] Result<bool> add_config(const std::string& hash_hex, std::string_view text);
  // Stores a checkpoint the caller verified; false when the same note is held already.
  [[nodiscard]] Result<bool> add_checkpoint(const Checkpoint& checkpoint, std::string_view reason);
  // Keeps a cosignature line of a checkpoint the journal holds (the same note); false
  // when it is held already. The caller checked the line's form (parse_cosignature).
  [[nodiscard]] Result<bool> add_cosignature(const Checkpoint& checkpoint, std::string_view line);
  // The largest tree size of a checkpoint held (0: none).
  [[nodiscard]] Result<uint64_t> largest_checkpoint_size();
  // The first checkpoint with tree_size >= min_size that has a cosignature, if any.
  [[nodiscard]] Result<std::optional<StoredCheckpoint>> first_cosigned_checkpoint(uint64_t min_size);
  // The checkpoint of the largest tree size that has a cosignature, if any.
  [[nodiscard]] Result<std::optional<StoredCheckpoint>> newest_cosigned_checkpoint();
  // The root of the stored tree over seq 1..size (size <= tree_size()).
  [[nodiscard]] Result<Sha256> tree_root(uint64_t size);
  // One stored record, or nullopt when the journal does not hold that seq.
  [[nodiscard]] Result<std::optional<StoredRecord>> record(uint64_t seq);
  // Every stored config: (hash, text).
  [[nodiscard]] Result<std::vector<std::pair<std::string, std::string>>> configs();

  // Read side (inside read_snapshot for a consistent view). The tree size is the number
  // of leaves: seq 1..size.
  [[nodiscard]] Result<uint64_t> tree_size();
  NodeSource tree_nodes();
  // Checkpoints with min_size <= tree_size <= max_size, by tree size then age.
  [[nodiscard]] Result<std::vector<StoredCheckpoint>> checkpoints(uint64_t min_size, uint64_t max_size);
  [[nodiscard]] Result<std::optional<StoredCheckpoint>> latest_checkpoint();
  [[nodiscard]] Result<std::optional<std::string>> config_text(const std::string& hash_hex);

  const ChainCheck& chain_check_at_open() const;
  uint64_t last_seq() const;
  const std::string& last_hash_hex() const;  // of record last_seq (zeros for an empty chain)
  [[nodiscard]] Result<JournalStats> stats();
  [[nodiscard]] Result<std::optional<PointLast>> last_reading(const std::string& point_id);
  // Every site record with seq <= through_seq, in seq order, from the journal's own copy
  // of them (kept when uploaded records are pruned). Cheap: one table of people's
  // entries, not a scan of the records.
  [[nodiscard]] Result<std::vector<StoredRecord>> site_records(uint64_t through_seq);
  // Records with from_seq <= seq <= to_seq, in order; at most max_records when not 0.
  [[nodiscard]] Result<void> for_each_record(uint64_t from_seq, uint64_t to_seq,
                                             const std::function<void(const StoredRecord&)>& fn,
                                             uint64_t max_records = 0);
  // Runs `fn` inside one read transaction: every query in it sees the same snapshot,
  // whatever the writer commits or prunes meanwhile.
  [[nodiscard]] Result<void> read_snapshot(const std::function<Result<void>()>& fn);
  // The smallest seq range holding every reading with from_ms <= ts_ms < to_ms.
  [[nodiscard]] Result<std::optional<std::pair<uint64_t, uint64_t>>> seq_range_for_time(
      int64_t from_ms, int64_t to_ms);
  // Per UTC day with from_ms <= ts_ms < to_ms (from_ms >= 0), the days that hold readings,
  // oldest first: how many, of how many points, and their first and last times and seqs.
  [[nodiscard]] Result<std::vector<DayCoverage>> coverage_by_day(int64_t from_ms, int64_t to_ms);
  // Quarantined messages with from_ms <= received_ms < to_ms, oldest first, at most `limit`.
  [[nodiscard]] Result<std::vector<QuarantineRow>> quarantine(int64_t from_ms, int64_t to_ms,
                                                              size_t limit);
  // How many quarantined messages are kept, by source and reason.
  [[nodiscard]] Result<std::vector<std::tuple<std::string, std::string, uint64_t>>>
  quarantine_counts();
  // Every public key that has signed records here: (key id, algorithm, PEM).
  struct KeyInfo {
    std::string key_id_hex, algorithm, pem;
    int64_t first_used_ms = 0;
  };
  [[nodiscard]] Result<std::vector<KeyInfo>> public_keys();
  // Starts bound to the TPM's counter: add one (a counter value is stored once), those
  // with from_seq <= head_seq <= to_seq in counter order, and the highest counter stored.
  [[nodiscard]] Result<void> add_tpm_start(const TpmStart& start);
  [[nodiscard]] Result<std::vector<TpmStart>> tpm_starts(uint64_t from_seq, uint64_t to_seq);
  [[nodiscard]] Result<std::optional<uint64_t>> last_tpm_counter();
  // Re-checks every record's hash, signature, seq and link (the offline verifier's work).
  [[nodiscard]] Result<ChainCheck> check_tail(size_t max_records);

  struct Impl;  // private state; named here so the implementation files can share it

 private:
  explicit Journal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv
