#pragma once
// One site's data on the registry: a mirror of the site's journal (core/journal_mirror)
// plus its reports. Every write is verified first and stored whole or not at all
// (docs/registry-api.md §3); a refusal says which check failed and at which seq.
// Thread-safe: one lock per site serialises its writes and reads.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::registry {

class VerifyPool;

// An answer that is not a success: the HTTP status and the error body's fields.
struct Refusal {
  int status = 400;
  std::string error, check, message;
  std::optional<uint64_t> seq, held_through;
  std::string to_json() const;
};

template <typename T>
using Answer = tl::expected<T, Refusal>;

struct StoreLimits {
  size_t max_body_bytes = 16 << 20;
  size_t max_batch_records = 100'000;
};

class SiteStore {
 public:
  // Opens (or creates) data_dir/sites/<id>.db. `pinned`: the only keys the site may
  // register (empty: any key its credential registers).
  [[nodiscard]] static Result<std::unique_ptr<SiteStore>> open(const std::filesystem::path& data_dir,
                                                               std::string site_id,
                                                               std::vector<PublicKey> pinned,
                                                               StoreLimits limits, VerifyPool& pool);

  // Each returns the JSON body of the answer (the receipt), or why not.
  Answer<std::string> register_key(std::string_view pem);
  Answer<std::string> add_config(std::string_view hash_hex, std::string_view text);
  Answer<std::string> post_records(std::string_view body, bool gzip);
  Answer<std::string> post_checkpoint(std::string_view note);
  Answer<std::string> post_report(std::string_view json_text);

  Answer<std::string> summary();
  Answer<std::string> keys();
  // NDJSON record lines of from_seq..to_seq, at most max_batch_records.
  Answer<std::string> records(uint64_t from_seq, uint64_t to_seq);
  Answer<std::string> records_by_time(int64_t from_ms, int64_t to_ms);
  Answer<std::string> checkpoints(uint64_t min_size, uint64_t max_size);
  Answer<std::string> reports();
  Answer<std::string> report(std::string_view sha256_hex);

  const std::string& id() const { return site_id_; }
  const std::filesystem::path& journal_path() const { return path_; }

 private:
  SiteStore(std::string site_id, std::filesystem::path path, Journal journal, std::vector<PublicKey> keys,
            std::vector<PublicKey> pinned, StoreLimits limits, VerifyPool& pool);
  Answer<std::string> records_locked(uint64_t from_seq, uint64_t to_seq);

  std::string site_id_;
  std::filesystem::path path_, reports_dir_;
  std::mutex mutex_;
  Journal journal_;
  std::vector<PublicKey> keys_;    // registered
  std::vector<PublicKey> pinned_;
  StoreLimits limits_;
  VerifyPool& pool_;
};

}  // namespace mrv::registry
