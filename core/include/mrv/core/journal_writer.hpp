#pragma once
// The journal's single writer thread. Collectors submit readings from any thread; the
// writer signs and commits them in batches, each reading within commit_interval_ms of
// its submission (or sooner, when a batch fills). A submitter that must not acknowledge
// before the reading is durable (MQTT QoS 1/2) waits for its ticket.
//
// Back-pressure, never silent loss: when the queue is full, or the journal is over quota
// with nothing receipted left to prune, or commits fail (disk full, I/O error), submit()
// refuses (busy, storage_full, storage) and the collector keeps the reading (or, for
// polled sources, records the missed poll). A batch that fails to commit stays in memory
// and is retried every retry_interval. stop() retries it once more; what still cannot be
// committed is counted in stats().held, which the caller must report.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "mrv/core/clock.hpp"
#include "mrv/core/journal.hpp"

namespace mrv {

struct WriterOptions {
  std::chrono::milliseconds commit_interval{50};
  size_t max_batch = 4096;
  size_t queue_capacity = 65536;
  std::chrono::milliseconds retry_interval{1000};  // after a failed commit or when full
  size_t quarantine_capacity = 1024;  // bad messages waiting for a commit
};

struct WriterStats {
  uint64_t submitted = 0, stored = 0, duplicates = 0, refused = 0, commit_failures = 0;
  uint64_t last_seq = 0;
  uint64_t held = 0;  // accepted but not yet committed (after stop: could not be committed)
  bool accepting = true;
  std::string last_error;
  std::string config_hash_hex;      // the config new records name
  LatencyHistogram commit_seconds;  // one transaction: sign, chain, insert, commit
  LatencyHistogram sign_seconds;    // one record's signature
};

class JournalWriter {
 public:
  using Ticket = uint64_t;
  // Logs are passed in so core stays free of any logging choice. Called from the writer
  // thread with the writer's lock held: it must not call back into the writer.
  using LogFn = std::function<void(int priority, const std::string& message)>;

  JournalWriter(Journal journal, WriterOptions options, Clock& clock, LogFn log);
  ~JournalWriter();  // stop()s
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Thread-safe. Stamps the reading with the agent's clock and queues it.
  [[nodiscard]] Result<Ticket> submit(Reading reading);
  // The same, but the reading is moved into the queue only when it is accepted: refused,
  // it stays with the caller to submit again (no copy per reading on the hot path).
  [[nodiscard]] Result<Ticket> take(Reading& reading);
  // Thread-safe. Queues a site record (a Reading site_record_reading made; checked again
  // here), stamped with the agent's clock like a reading and committed as a record of
  // type site-record, in order with the readings. Refused as submit() refuses.
  [[nodiscard]] Result<Ticket> submit_site_record(Reading record);
  // Blocks until the site record of `ticket` is committed and returns where: its seq and
  // hash, or those of the earlier record holding the same entry id (duplicate). Errors:
  // busy when the timeout passes first; not_found for a ticket that is no site record's
  // or was asked for already.
  [[nodiscard]] Result<SiteRecordCommit> wait_site_record(Ticket ticket, std::chrono::milliseconds timeout);
  // Thread-safe. Queues a bad message for the quarantine table; it is committed with the
  // next batch, so a collector can wait for it like for a reading before acknowledging.
  [[nodiscard]] Result<Ticket> submit_quarantine(QuarantinedMessage message);
  // Blocks until what `ticket` names is committed (true) or the timeout passes. The
  // writer then commits at once instead of at the batch deadline.
  bool wait_committed(Ticket ticket, std::chrono::milliseconds timeout);
  // Thread-safe, without waiting or hurrying the writer: every ticket up to this one is
  // committed.
  Ticket committed_through() const;
  // Commits everything queued, then stops the thread. Idempotent.
  void stop();
  // Asks the writer thread for a checkpoint of everything committed, with this reason
  // ("upload" before an upload); returns at once. Nothing happens when nothing is new.
  void request_checkpoint(std::string reason);
  // Thread-safe. The registry has receipted every record through `seq`: the writer
  // thread moves the journal's upload cursor (which lets quota pruning take them).
  // Returns at once; a cursor lost in a crash only means a resend the registry answers
  // with the same receipt.
  void record_receipt(uint64_t seq);
  // Thread-safe. The registry cosigned this checkpoint of the journal (a cosignature
  // line, docs/verification.md §3.1): the writer thread keeps it. Returns at once; one
  // lost in a crash stays with the registry.
  void record_cosignature(Checkpoint checkpoint, std::string line);
  WriterStats stats() const;
  // Blocks until every reading queued so far is committed under the old config, then
  // makes records name the new one (a reload; the sources are stopped meanwhile).
  // Errors: the journal cannot commit or store the config within the timeout.
  [[nodiscard]] Result<void> reconfigure(std::string hash_hex, std::string text,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Called on the writer thread after each commit with the readings it stored (not the
  // duplicates it skipped, and no site records: a person's entry is no sign of a live
  // source). Must be quick and must not call into the writer. Set before
  // the first submit.
  using CommitObserver = std::function<void(std::span<const AcceptedReading>)>;
  void set_commit_observer(CommitObserver observer);

 private:
  using Clk = std::chrono::steady_clock;
  struct Pending {
    AcceptedReading accepted;
    Clk::time_point queued;
    Ticket ticket;
  };
  [[nodiscard]] Result<Ticket> enqueue(Reading& reading, RecordType type);  // lock not held; moves when accepted
  struct PendingQuarantine {
    QuarantinedMessage message;
    Clk::time_point queued;
    Ticket ticket;
  };

  void run();
  bool has_queued() const { return !queue_.empty() || !quarantine_queue_.empty(); }
  Clk::time_point oldest_queued() const;
  void commit_batch(std::unique_lock<std::mutex>& lock);
  // Signs a checkpoint of everything committed (lock held on entry and exit).
  void store_cosignatures(std::unique_lock<std::mutex>& lock);
  void make_checkpoint(std::unique_lock<std::mutex>& lock, const char* reason);

  Journal journal_;
  WriterOptions options_;
  Clock& clock_;
  LogFn log_;

  mutable std::mutex mutex_;
  std::condition_variable work_ready_;  // writer waits: something queued or stop
  std::condition_variable committed_;   // submitters wait: a batch committed
  std::deque<Pending> queue_;
  std::deque<PendingQuarantine> quarantine_queue_;
  // The batch being committed, moved out of the queues; kept until it is durable (a
  // failed commit is retried with exactly these). Writer thread only, outside the lock.
  std::vector<AcceptedReading> inflight_;
  std::vector<std::pair<size_t, Ticket>> inflight_site_tickets_;  // site records of inflight_: index, ticket
  // Where committed site records went, by ticket, until wait_site_record takes them
  // (at most kSiteRecordResults: the oldest go first when nobody asks).
  static constexpr size_t kSiteRecordResults = 1024;
  std::map<Ticket, SiteRecordCommit> site_record_results_;
  CommitObserver commit_observer_;
  struct PendingConfig {
    std::string hash_hex, text;
    std::optional<Result<void>> applied;
  };
  std::optional<PendingConfig> pending_config_;  // reconfigure(): applied between batches
  std::vector<QuarantinedMessage> inflight_quarantine_;
  Ticket next_ticket_ = 1;
  Ticket committed_through_ = 0;
  Ticket waited_for_ = 0;  // the highest ticket a wait_committed() caller is blocked on
  bool stopping_ = false;
  std::string checkpoint_requested_;  // a reason: a checkpoint is wanted now
  uint64_t receipt_pending_ = 0, receipt_stored_ = 0;  // upload cursor: wanted, written
  std::vector<std::pair<Checkpoint, std::string>> cosignatures_pending_;  // record_cosignature()
  bool over_quota_ = false;      // stop accepting; keep committing what was accepted
  bool commit_failing_ = false;  // the last commit failed: retry it after a pause
  ErrorCode last_failure_ = ErrorCode::storage;
  bool head_anchor_ok_ = true;
  std::chrono::steady_clock::time_point last_quota_check_{};  // writer thread only
  WriterStats stats_;
  std::thread thread_;
};

}  // namespace mrv
