#pragma once
// One site's data on the registry: a mirror of the site's journal (core/journal_mirror)
// plus its reports. Every write is verified first and stored whole or not at all
// (docs/registry-api.md §3); a refusal says which check failed and at which seq. Records
// without a signature of their own wait apart (unproven_store) until a signed checkpoint
// proves them; only then do they enter the mirror and count as held.
// Thread-safe: one lock per site serialises its writes and reads.
// With a shared database (SiteOptions::shared_log), the SQLite files are this process's
// copy of the site: each write is appended to the database's log of the site's writes
// first, under the site's lock there, and what other processes appended is put in force
// here before each write and before each read (site_store_shared.cpp).
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/core/checkpoint.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/registry/site_page.hpp"

namespace mrv::registry {

class Cosigner;
class SiteWriteLog;
struct SiteWrite;

class VerifyPool;
class UnprovenStore;

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
  uint64_t max_unproven_records = 1'000'000;  // per site: beyond, a checkpoint must come first
};

struct SiteOptions {
  // The only keys the site may register; empty: any key, while the site holds no records.
  std::vector<PublicKey> pinned;
  bool checkpoint_only = false;  // records without their own signature are accepted (unproven)
  StoreLimits limits;
  Cosigner* cosigner = nullptr;  // cosigns each checkpoint accepted ([cosign]); shared, outlives the store
  SiteWriteLog* shared_log = nullptr;  // [database]: the sites' writes, shared by registry processes; outlives the store
};

class SiteStore {
 public:
  // Opens (or creates) data_dir/sites/<site_file_name(id)> and its unproven records.
  [[nodiscard]] static Result<std::unique_ptr<SiteStore>> open(const std::filesystem::path& data_dir,
                                                               std::string site_id, SiteOptions options,
                                                               VerifyPool& pool);
  ~SiteStore();

  // Each returns the JSON body of the answer (the receipt), or why not.
  Answer<std::string> register_key(std::string_view pem);
  Answer<std::string> add_config(std::string_view hash_hex, std::string_view text);
  Answer<std::string> post_records(std::string_view body, bool gzip);
  Answer<std::string> post_checkpoint(std::string_view note);
  Answer<std::string> post_report(std::string_view json_text);
  // Binds a registered TPM key's attestation key to its TPM (docs/registry-api.md §3.6):
  // the statement is checked against `tpm_ca_pem`, then answered with a credential only
  // the TPM of its EK certificate can open; the key is activated when it comes back.
  Answer<std::string> tpm_challenge(std::string_view key_id, std::string_view statement, std::string_view tpm_ca_pem);
  Answer<std::string> tpm_activate(std::string_view key_id, std::string_view answer);

  // Admins' key policy at run time (enrollment.hpp): a key the site may register from now
  // on; a key that may no longer sign records or checkpoints from `from_seq` on, nor
  // reports, nor be registered.
  void pin_key(PublicKey key);
  void revoke_key(const std::string& key_id, uint64_t from_seq);

  // With a shared database: puts in force here what other processes appended, now that
  // the site's log reaches write `head` (the database is read without the site's lock
  // held here, so a slow database never holds up another request's read of this copy).
  void follow(uint64_t head);
  // The site's newest write in the database, as last seen (Api polls the heads); a
  // process follows a site only when it serves it, so that a site whose agent uploads
  // to another process costs nothing here until it is read.
  void note_head(uint64_t head) { known_head_.store(head, std::memory_order_relaxed); }
  // Before a read: follows the site up to the head last noted.
  void follow_noted() { follow(known_head_.load(std::memory_order_relaxed)); }

  Answer<std::string> summary();
  Answer<std::string> keys();
  // NDJSON record lines of from_seq..to_seq, at most max_batch_records.
  Answer<std::string> records(uint64_t from_seq, uint64_t to_seq);
  Answer<std::string> records_by_time(int64_t from_ms, int64_t to_ms);
  Answer<std::string> checkpoints(uint64_t min_size, uint64_t max_size);
  Answer<std::string> reports();
  Answer<std::string> report(std::string_view sha256_hex);
  // The verifiers' page's facts: `days` whole UTC days (1 to kMaxPageDays) up to and
  // including the day of until_ms.
  static constexpr int kMaxPageDays = 366;
  Answer<SitePage> page(int days, int64_t until_ms);
  // The site's line in the list of sites (GET /v1/sites).
  Answer<SiteIndexEntry> index_entry();

  // The site's keys whose attestation key the registry activated: key id -> statement
  // (JSON text) and when.
  struct TpmActivation {
    std::string statement;
    int64_t activated_ms = 0;
  };
  std::map<std::string, TpmActivation> tpm_activations();

  const std::string& id() const { return site_id_; }
  const std::filesystem::path& journal_path() const { return path_; }

 private:
  SiteStore(std::string site_id, std::filesystem::path path, Journal journal, std::unique_ptr<UnprovenStore> unproven,
            std::vector<PublicKey> keys, SiteOptions options, VerifyPool& pool);
  Answer<std::string> records_locked(uint64_t from_seq, uint64_t to_seq);
  // The writes, with mutex_ held; each is also what a replay of its logged write runs.
  Answer<std::string> register_key_locked(std::string_view pem);
  Answer<std::string> add_config_locked(std::string_view hash_hex, std::string_view text);
  Answer<std::string> post_lines_locked(std::vector<RecordLine>& lines);
  Answer<std::string> post_checkpoint_locked(const Checkpoint& checkpoint);
  Answer<std::string> post_report_locked(std::string_view json_text);
  Answer<std::string> tpm_activate_locked(std::string_view key_id, std::string_view credential);
  Answer<std::string> store_new_records(std::vector<RecordLine>& lines, size_t first_new, uint64_t base_seq,
                                        const std::string& base_hash);
  Answer<std::string> prove_unproven(const Checkpoint& checkpoint);

  // The shared database (site_store_shared.cpp); all with mutex_ held. A write: catches
  // up under the site's lock there, then runs `apply`, which calls log_write() once,
  // before it changes anything here.
  [[nodiscard]] Result<void> attach_shared();  // at open: where this copy is in the log
  struct Shared;                                 // with a shared_log: where this copy is in its log
  [[nodiscard]] Result<void> move_into_log(Shared& s);  // a site kept before [database]
  static Answer<std::vector<RecordLine>> parse_lines(std::string_view body, const StoreLimits& limits);
  Answer<void> log_checkpoint(const Checkpoint& checkpoint);  // with the cosignature it gets
  Answer<std::string> tpm_challenge_replay(const SiteWrite& w);
  Answer<std::string> write_locked(const std::function<Answer<std::string>()>& apply);
  [[nodiscard]] Answer<void> log_write(std::string kind, std::string body, std::string extra = {});
  // Puts in force the writes other processes appended, under the site's lock in the
  // database (kept until the write ends).
  Answer<void> catch_up_locked();
  Answer<void> put_in_force_locked(const std::vector<SiteWrite>& writes);
  void save_now_and_then();  // the copy's place in the log, every kSaveEvery writes
  Answer<std::string> replay(const SiteWrite& w);
  // When the write in progress was accepted: now, or for a replay the logged time.
  int64_t write_ms() const;
  Answer<std::string> checkpoint_receipt(const Checkpoint& checkpoint);
  std::vector<SitePage::Report> report_list();  // newest first
  std::optional<uint64_t> revoked_from(std::string_view key_id) const;  // with mutex_ held

  std::string site_id_;
  std::filesystem::path path_, reports_dir_, tpm_dir_;
  std::mutex mutex_;
  Journal journal_;
  std::unique_ptr<UnprovenStore> unproven_;
  std::vector<PublicKey> keys_;    // registered
  std::map<std::string, uint64_t, std::less<>> revoked_from_;  // key id -> first seq it may not sign
  struct PendingActivation {
    std::string statement, credential;
    int64_t expires_ms = 0;
  };
  std::map<std::string, PendingActivation, std::less<>> pending_tpm_;  // by key id: one per registered key
  SiteOptions options_;
  VerifyPool& pool_;
  std::unique_ptr<Shared> shared_;
  std::atomic<uint64_t> known_head_{0};
  bool replaying_ = false;          // a logged write: checked when it was accepted
  int64_t write_ms_ = 0;
  std::string preset_cosignature_;  // a shared checkpoint's: made once, logged with it
};

}  // namespace mrv::registry
