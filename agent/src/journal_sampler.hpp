#pragma once
// What only the journal file knows, read on a thread of its own with its own read-only
// handle, so the io_context never waits on SQLite:
//   - its size: the file sizes every tick (two stat calls); the bytes in use and the
//     record count from Journal::stats(), which counts the records (about a second on a
//     10-million-record journal), so at most every 200 times as long as that took, and
//     at least min_size_interval apart: half a percent of a core at most;
//   - when our clock accepted the oldest record the registry has not receipted (one
//     lookup by seq when the upload cursor moved), for the upload lag in seconds.
// Thread-safe. The values are at most one tick old (the record count and bytes in use:
// see sizes().sampled_ms).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "agent_status.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::agent {

class JournalSampler {
 public:
  struct OldestWaiting {
    uint64_t seq = 0;          // the record after the upload cursor
    int64_t received_ms = 0;   // when our clock accepted it (0: no such record yet)
  };
  struct Options {
    std::chrono::milliseconds tick{2000};
    std::chrono::milliseconds min_size_interval{10'000};
    bool own_thread = true;    // false: nothing runs until sample() is called (tests)
  };

  // quota_bytes: the configured quota (a read-only handle does not know it).
  JournalSampler(std::filesystem::path journal_path, uint64_t quota_bytes, Options options);
  ~JournalSampler();  // stop()s
  JournalSampler(const JournalSampler&) = delete;
  JournalSampler& operator=(const JournalSampler&) = delete;

  // The registry has receipted every record through `seq`: from the next tick on, the
  // oldest waiting record is looked up. Not called: no upload, nothing looked up.
  void set_upload_cursor(uint64_t seq);
  JournalSizes sizes() const;
  OldestWaiting oldest_waiting() const;
  // One tick: what the thread does; call it directly only without own_thread.
  void sample();
  void stop();

 private:
  void run();

  const std::filesystem::path path_;
  const uint64_t quota_bytes_;
  const Options options_;
  std::atomic<int64_t> cursor_{-1};  // -1: no upload
  // The sampling side (the thread, or the caller of sample()).
  std::optional<Journal> journal_;
  std::chrono::steady_clock::time_point next_size_{};
  // Shared with readers.
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  JournalSizes sizes_;
  OldestWaiting oldest_;
  std::thread thread_;
};

}  // namespace mrv::agent
