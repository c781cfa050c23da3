#include "mrv/core/journal_writer.hpp"

#include <sys/syslog.h>

#include <vector>

#include "mrv/core/canonical.hpp"
#include "mrv/core/site_record.hpp"

namespace mrv {

JournalWriter::JournalWriter(Journal journal, WriterOptions options, Clock& clock, LogFn log)
    : journal_(std::move(journal)), options_(options), clock_(clock), log_(std::move(log)) {
  stats_.last_seq = journal_.last_seq();
  stats_.config_hash_hex = journal_.config_hash_hex();
  thread_ = std::thread([this] { run(); });
}

JournalWriter::~JournalWriter() { stop(); }

Result<JournalWriter::Ticket> JournalWriter::submit(Reading reading) { return take(reading); }

Result<JournalWriter::Ticket> JournalWriter::take(Reading& reading) {
  if (auto v = validate_reading(reading); !v) {
    v.error().where = reading.source + " " + v.error().where;
    return tl::unexpected(v.error());
  }
  return enqueue(reading, RecordType::reading);
}

Result<JournalWriter::Ticket> JournalWriter::submit_site_record(Reading record) {
  if (auto v = parse_site_record(record); !v) {
    v.error().where = "site record " + v.error().where;
    return tl::unexpected(v.error());
  }
  return enqueue(record, RecordType::site_record);
}

Result<JournalWriter::Ticket> JournalWriter::enqueue(Reading& reading, RecordType type) {
  const std::string& source = reading.source;
  ClockSample received = clock_.now();
  std::lock_guard lock(mutex_);
  if (stopping_) return fail(ErrorCode::busy, source, "journal writer is stopping");
  if (!stats_.accepting || queue_.size() + inflight_.size() >= options_.queue_capacity) {
    ++stats_.refused;
    if (stats_.accepting) return fail(ErrorCode::busy, source, "journal queue is full");
    ErrorCode why = commit_failing_ ? last_failure_ : ErrorCode::storage_full;
    return fail(why, source, "journal is not accepting readings: " + stats_.last_error);
  }
  queue_.push_back({AcceptedReading{std::move(reading), received, type}, Clk::now(), next_ticket_});
  ++stats_.submitted;
  if (queue_.size() == 1 || queue_.size() >= options_.max_batch) work_ready_.notify_one();
  return next_ticket_++;
}

Result<SiteRecordCommit> JournalWriter::wait_site_record(Ticket ticket, std::chrono::milliseconds timeout) {
  if (!wait_committed(ticket, timeout)) {
    std::lock_guard lock(mutex_);
    return fail(ErrorCode::busy, "journal writer",
                "the site record was not committed within " + std::to_string(timeout.count()) + " ms" +
                    (stats_.last_error.empty() ? "" : ": " + stats_.last_error));
  }
  std::lock_guard lock(mutex_);
  auto it = site_record_results_.find(ticket);
  if (it == site_record_results_.end())
    return fail(ErrorCode::not_found, "journal writer", "ticket " + std::to_string(ticket) + " names no site record");
  SiteRecordCommit done = std::move(it->second);
  site_record_results_.erase(it);
  return done;
}

Result<JournalWriter::Ticket> JournalWriter::submit_quarantine(QuarantinedMessage message) {
  std::lock_guard lock(mutex_);
  if (stopping_) return fail(ErrorCode::busy, message.source, "journal writer is stopping");
  if (commit_failing_ ||
      quarantine_queue_.size() + inflight_quarantine_.size() >= options_.quarantine_capacity)
    return fail(ErrorCode::busy, message.source, "quarantine queue is full");
  quarantine_queue_.push_back({std::move(message), Clk::now(), next_ticket_});
  if (quarantine_queue_.size() == 1) work_ready_.notify_one();
  return next_ticket_++;
}

JournalWriter::Clk::time_point JournalWriter::oldest_queued() const {
  auto oldest = Clk::time_point::max();
  if (!queue_.empty()) oldest = queue_.front().queued;
  if (!quarantine_queue_.empty()) oldest = std::min(oldest, quarantine_queue_.front().queued);
  return oldest;
}

bool JournalWriter::wait_committed(Ticket ticket, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (committed_through_ >= ticket) return true;
  // Someone is blocked on this commit (an unacknowledged message): commit now rather
  // than at the batch deadline.
  if (ticket > waited_for_) {
    waited_for_ = ticket;
    work_ready_.notify_one();
  }
  return committed_.wait_for(lock, timeout, [&] { return committed_through_ >= ticket; });
}

void JournalWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  work_ready_.notify_one();
  if (thread_.joinable()) thread_.join();
}

JournalWriter::Ticket JournalWriter::committed_through() const {
  std::lock_guard lock(mutex_);
  return committed_through_;
}

WriterStats JournalWriter::stats() const {
  std::lock_guard lock(mutex_);
  WriterStats st = stats_;
  st.held = queue_.size() + inflight_.size() + quarantine_queue_.size() + inflight_quarantine_.size();
  return st;
}

Result<void> JournalWriter::reconfigure(std::string hash_hex, std::string text, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (stopping_) return fail(ErrorCode::invalid_argument, "journal writer", "stopping");
  pending_config_ = PendingConfig{std::move(hash_hex), std::move(text), std::nullopt};
  work_ready_.notify_one();
  bool done = committed_.wait_for(lock, timeout, [&] { return pending_config_->applied.has_value(); });
  Result<void> result = done ? *pending_config_->applied
                             : fail(ErrorCode::busy, "journal writer",
                                    "the readings queued before the reload were not committed in time: " +
                                        stats_.last_error);
  pending_config_.reset();
  return result;
}

void JournalWriter::set_commit_observer(CommitObserver observer) {
  std::lock_guard lock(mutex_);
  commit_observer_ = std::move(observer);
}

void JournalWriter::run() {
  std::unique_lock lock(mutex_);
  auto config_due = [&] { return pending_config_ && !pending_config_->applied; };
  auto has_work = [&] {
    return stopping_ || has_queued() || commit_failing_ || over_quota_ || !checkpoint_requested_.empty() ||
           receipt_pending_ > receipt_stored_ || !cosignatures_pending_.empty() || config_due();
  };
  for (;;) {
    if (config_due() && !has_queued() && !commit_failing_) {
      // Everything read under the old config is committed: switch.
      auto applied = journal_.set_config(pending_config_->hash_hex, pending_config_->text);
      if (applied) stats_.config_hash_hex = pending_config_->hash_hex;
      pending_config_->applied = std::move(applied);
      committed_.notify_all();
      continue;
    }
    if (receipt_pending_ > receipt_stored_) {
      uint64_t seq = receipt_pending_;
      lock.unlock();
      auto stored = journal_.set_upload_cursor(seq);
      lock.lock();
      if (!stored) {
        log_(LOG_ERR, "cannot store the upload cursor: " + stored.error().to_string());
        // Retried after a pause; given up at stop (a lost cursor costs a resend only).
        if (!stopping_) work_ready_.wait_for(lock, options_.retry_interval, [&] { return stopping_; });
        if (!stopping_) continue;
      }
      receipt_stored_ = seq;
      continue;
    }
    if (!cosignatures_pending_.empty()) {
      store_cosignatures(lock);
      continue;
    }
    if (!checkpoint_requested_.empty() && !commit_failing_) {
      std::string reason = std::move(checkpoint_requested_);
      checkpoint_requested_.clear();
      make_checkpoint(lock, reason.c_str());
      continue;
    }
    // Idle: sleep until there is work or the next checkpoint is due.
    if (auto due = journal_.checkpoint_due()) {
      if (!work_ready_.wait_until(lock, *due, has_work)) {
        make_checkpoint(lock, journal_.checkpoint_reason());
        continue;
      }
    } else {
      work_ready_.wait(lock, has_work);
    }
    if (has_queued() && !commit_failing_) {
      // Wait for the oldest item's deadline, a full batch, or stop.
      auto deadline = oldest_queued() + options_.commit_interval;
      work_ready_.wait_until(lock, deadline, [&] {
        return stopping_ || queue_.size() >= options_.max_batch || waited_for_ > committed_through_ ||
               config_due();  // a reload waits on this queue: commit it now
      });
      commit_batch(lock);
      continue;
    }
    if (!has_queued() && !commit_failing_ && stopping_) {
      if (receipt_pending_ > receipt_stored_ || !cosignatures_pending_.empty()) continue;  // kept first
      make_checkpoint(lock, "stop");
      return;
    }
    // Woken for a receipt, a checkpoint or a reload: the top of the loop does it now. Only
    // failing commits and a full journal wait for the pause below.
    if (!commit_failing_ && !over_quota_) continue;
    // Failing commits or over quota: retry after a pause, waking at once to stop.
    bool stop_now = work_ready_.wait_for(lock, options_.retry_interval, [&] { return stopping_; });
    if (commit_failing_) {
      if (last_failure_ == ErrorCode::storage_full) {
        lock.unlock();
        (void)journal_.prune_receipted();  // make room for the retry where we may
        lock.lock();
      }
      commit_batch(lock);
    } else if (over_quota_) {
      lock.unlock();
      auto under = journal_.enforce_quota();
      lock.lock();
      if (under && *under) {
        log_(LOG_NOTICE, "journal is under its quota again: accepting readings");
        over_quota_ = false;
        stats_.accepting = true;
      }
    }
    if (stop_now && commit_failing_) return;  // stats().held says what could not be kept
  }
}

void JournalWriter::request_checkpoint(std::string reason) {
  std::lock_guard lock(mutex_);
  checkpoint_requested_ = std::move(reason);
  work_ready_.notify_one();
}

void JournalWriter::record_receipt(uint64_t seq) {
  std::lock_guard lock(mutex_);
  if (seq <= receipt_pending_) return;
  receipt_pending_ = seq;
  work_ready_.notify_one();
}

void JournalWriter::record_cosignature(Checkpoint checkpoint, std::string line) {
  std::lock_guard lock(mutex_);
  cosignatures_pending_.emplace_back(std::move(checkpoint), std::move(line));
  work_ready_.notify_one();
}

// A cosignature that cannot be stored is logged and dropped: the registry keeps it too
// and serves it in its bundles (docs/verification.md §3.1).
void JournalWriter::store_cosignatures(std::unique_lock<std::mutex>& lock) {
  auto pending = std::move(cosignatures_pending_);
  cosignatures_pending_.clear();
  lock.unlock();
  for (const auto& [checkpoint, line] : pending)
    if (auto r = journal_.add_cosignature(checkpoint, line); !r)
      log_(LOG_ERR, "cannot keep the registry's cosignature of the checkpoint of tree size " +
                        std::to_string(checkpoint.tree_size) + ": " + r.error().to_string());
  lock.lock();
}

void JournalWriter::make_checkpoint(std::unique_lock<std::mutex>& lock, const char* reason) {
  lock.unlock();
  auto made = journal_.checkpoint(reason);
  lock.lock();
  if (made) return;
  log_(LOG_ERR, std::string("checkpoint failed: ") + made.error().to_string());
  // Not again at once (a full disk): the next try waits like a failed commit's.
  work_ready_.wait_for(lock, options_.retry_interval, [&] { return stopping_; });
}

void JournalWriter::commit_batch(std::unique_lock<std::mutex>& lock) {
  if (!commit_failing_) {  // else: the batch that failed, retried as it was
    size_t n = std::min(queue_.size(), options_.max_batch);
    for (size_t i = 0; i < n; ++i) {
      if (queue_.front().accepted.type == RecordType::site_record)
        inflight_site_tickets_.emplace_back(inflight_.size(), queue_.front().ticket);
      inflight_.push_back(std::move(queue_.front().accepted));
      queue_.pop_front();
    }
    for (auto& q : quarantine_queue_) inflight_quarantine_.push_back(std::move(q.message));
    quarantine_queue_.clear();
  }
  lock.unlock();
  auto started = Clk::now();
  auto outcome = journal_.append(inflight_, inflight_quarantine_);
  double took = std::chrono::duration<double>(Clk::now() - started).count();
  if (outcome && commit_observer_) {
    if (outcome->duplicate_indexes.empty() && inflight_site_tickets_.empty()) {
      commit_observer_(inflight_);
    } else {  // rare (a redelivery, a site record): a copy of the readings stored; inflight_ is read under the lock elsewhere
      std::vector<AcceptedReading> stored;
      stored.reserve(inflight_.size());
      for (size_t i = 0, next = 0; i < inflight_.size(); ++i) {
        if (next < outcome->duplicate_indexes.size() && outcome->duplicate_indexes[next] == i) ++next;
        else if (inflight_[i].type == RecordType::reading) stored.push_back(inflight_[i]);
      }
      commit_observer_(stored);
    }
  }
  // The quota is checked about once a second, not at every commit: three PRAGMAs each.
  Result<bool> under_quota = !over_quota_;
  auto now = std::chrono::steady_clock::now();
  if (outcome && now - last_quota_check_ >= std::chrono::seconds(1)) {
    under_quota = journal_.enforce_quota();
    last_quota_check_ = now;
  }
  lock.lock();
  if (!outcome) {
    last_failure_ = outcome.error().code;
    ++stats_.commit_failures;
    stats_.last_error = outcome.error().to_string();
    if (!commit_failing_)
      log_(LOG_ERR, "journal commit failed, " + std::to_string(queue_.size() + inflight_.size()) +
                        " readings held for retry: " + stats_.last_error);
    commit_failing_ = true;
    stats_.accepting = false;  // take no more until a commit succeeds again
    return;
  }
  if (commit_failing_) log_(LOG_NOTICE, "journal commits succeed again");
  if (outcome->head_anchor_written != head_anchor_ok_)
    log_(outcome->head_anchor_written ? LOG_NOTICE : LOG_WARNING,
         outcome->head_anchor_written
             ? "head anchor file written again"
             : "cannot write the journal's head anchor file: rollback detection is weakened");
  head_anchor_ok_ = outcome->head_anchor_written;
  commit_failing_ = false;
  for (const SiteRecordCommit& c : outcome->site_records)
    for (const auto& [index, ticket] : inflight_site_tickets_)
      if (index == c.index) site_record_results_[ticket] = c;
  while (site_record_results_.size() > kSiteRecordResults) site_record_results_.erase(site_record_results_.begin());
  inflight_site_tickets_.clear();
  inflight_.clear();
  inflight_quarantine_.clear();
  // Everything ticketed before the oldest item still queued is now durable.
  Ticket oldest_waiting = next_ticket_;
  if (!queue_.empty()) oldest_waiting = queue_.front().ticket;
  if (!quarantine_queue_.empty()) oldest_waiting = std::min(oldest_waiting, quarantine_queue_.front().ticket);
  committed_through_ = oldest_waiting - 1;
  stats_.stored += outcome->stored;
  stats_.duplicates += outcome->duplicates;
  stats_.commit_seconds.observe(took);
  stats_.sign_seconds = journal_.sign_latency();
  stats_.last_seq = journal_.last_seq();
  bool over = !under_quota || !*under_quota;
  if (over && !over_quota_) {
    stats_.last_error = under_quota ? "quota reached and no uploaded records left to prune"
                                    : under_quota.error().to_string();
    log_(LOG_CRIT, "journal is full (" + stats_.last_error +
                       "): refusing new readings until space frees");
  }
  over_quota_ = over;
  stats_.accepting = !over;
  committed_.notify_all();
}

}  // namespace mrv
