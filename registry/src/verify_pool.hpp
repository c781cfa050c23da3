#pragma once
// Signature checks on every core: a batch of records is verified by a fixed set of
// threads. Each thread keeps its own copy of each key, because OpenSSL serialises threads
// that share one EVP_PKEY.
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "mrv/core/crypto.hpp"

namespace mrv::registry {

class VerifyPool {
 public:
  struct Job {
    const PublicKey* key;
    std::string_view message, signature;
    const Sha256* message_sha256;  // the record's hash: ECDSA need not hash it again
  };

  explicit VerifyPool(int threads);  // 0: one per core
  ~VerifyPool();
  VerifyPool(const VerifyPool&) = delete;
  VerifyPool& operator=(const VerifyPool&) = delete;

  // The index of the first job whose signature does not verify, or nullopt. Blocks; the
  // caller's thread works too. Batches from several callers run one after another.
  std::optional<size_t> verify(std::span<const Job> jobs);

  // Signatures checked so far and the CPU time (all threads) spent checking them: beside
  // the process's CPU time, the share of it that verification takes.
  struct Totals {
    uint64_t signatures = 0;
    double cpu_seconds = 0;
  };
  Totals totals() const;

 private:
  void work();
  void drain();  // takes chunks of the current batch until none is left

  std::mutex run_mutex_;  // one batch at a time
  std::mutex mutex_;
  std::condition_variable start_, done_;
  std::span<const Job> jobs_;
  size_t next_ = 0, finished_ = 0, first_bad_ = SIZE_MAX;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::atomic<uint64_t> signatures_{0}, cpu_ns_{0};
};

}  // namespace mrv::registry
