#include "journal_sampler.hpp"

#include <algorithm>

#include "mrv/core/canonical.hpp"
#include "mrv/core/clock.hpp"

namespace mrv::agent {

JournalSampler::JournalSampler(std::filesystem::path journal_path, uint64_t quota_bytes, Options options)
    : path_(std::move(journal_path)), quota_bytes_(quota_bytes), options_(options) {
  sizes_.error = "not read yet";
  sizes_.quota_bytes = quota_bytes_;
  if (options_.own_thread) thread_ = std::thread([this] { run(); });
}

JournalSampler::~JournalSampler() { stop(); }

void JournalSampler::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void JournalSampler::set_upload_cursor(uint64_t seq) { cursor_.store(static_cast<int64_t>(seq)); }

JournalSizes JournalSampler::sizes() const {
  std::lock_guard lock(mutex_);
  return sizes_;
}

JournalSampler::OldestWaiting JournalSampler::oldest_waiting() const {
  std::lock_guard lock(mutex_);
  return oldest_;
}

void JournalSampler::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    sample();
    lock.lock();
    wake_.wait_for(lock, options_.tick, [&] { return stopping_; });
  }
}

void JournalSampler::sample() {
  std::optional<JournalSizes> sizes;  // a new count, or why there is none
  auto failed = [](const Error& e) {
    JournalSizes f;
    f.error = e.to_string();
    return f;
  };
  if (!journal_) {
    auto opened = Journal::open_read_only(path_);
    if (opened) journal_.emplace(std::move(*opened));
    else sizes = failed(opened.error());
  }
  if (journal_ && std::chrono::steady_clock::now() >= next_size_) {
    auto started = std::chrono::steady_clock::now();
    if (auto st = journal_->stats()) {
      sizes = JournalSizes{true, "", st->used_bytes, 0, quota_bytes_, st->record_count, utc_now_ms()};
      auto now = std::chrono::steady_clock::now();
      next_size_ = now + std::max<std::chrono::steady_clock::duration>(options_.min_size_interval, 200 * (now - started));
    } else {
      sizes = failed(st.error());
      journal_.reset();  // opened again at the next tick
    }
  }
  std::error_code ec;
  uint64_t file_bytes = std::filesystem::file_size(path_, ec);
  if (ec) file_bytes = 0;
  uint64_t wal = std::filesystem::file_size(path_.string() + "-wal", ec);
  if (!ec) file_bytes += wal;

  std::optional<OldestWaiting> oldest;
  int64_t cursor = cursor_.load();
  OldestWaiting before = oldest_waiting();
  if (journal_ && cursor >= 0 && (before.seq != static_cast<uint64_t>(cursor) + 1 || before.received_ms == 0)) {
    OldestWaiting o{static_cast<uint64_t>(cursor) + 1, 0};
    if (auto rec = journal_->record(o.seq); rec && *rec)
      if (auto fields = decode_record((*rec)->canonical)) o.received_ms = fields->received.utc_ms;
    oldest = o;
  }

  std::lock_guard lock(mutex_);
  // A failed count keeps the last good one (with its time) rather than showing none.
  if (sizes && (sizes->known || !sizes_.known)) {
    sizes_ = *sizes;
    sizes_.quota_bytes = quota_bytes_;
  }
  sizes_.file_bytes = file_bytes;
  if (oldest) oldest_ = *oldest;
}

}  // namespace mrv::agent
