#pragma once
// The uploader: delivers every record of the journal to the registry exactly once
// (docs/registry-api.md). On its own thread, with its own read-only journal handles:
//   - registers the journal's keys and configs, then posts batches of record lines
//     (gzip) after the upload cursor, by count, bytes and age;
//   - moves the cursor (JournalWriter::record_receipt) only after a receipt naming the
//     batch's first and last seq and last hash; a resend after a lost receipt is
//     answered with the same receipt, so a crash anywhere resends and never skips;
//   - posts the journal's checkpoints once the records they cover are receipted;
//   - retries transport failures, 408, 429 and 5xx with capped exponential backoff and
//     jitter; any other refusal stops that stream, logged as critical and shown in
//     status, because sending it again cannot succeed.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"

namespace mrv::uploader {

class HttpsClient;
// A client for the registry of an [upload] section (its CA, client certificate or token).
[[nodiscard]] Result<HttpsClient> registry_client(const UploadConfig& upload);
// Posts a signed monitoring report (POST /v1/sites/{site}/reports); the registry's
// answer, or an error naming the URL and the status.
[[nodiscard]] Result<std::string> post_report(const Config& config, std::string_view report_json);
// One request for a resource of this site (`resource`: "keys", "keys/<id>/tpm"): the
// answer's body on 200, else an error naming the URL, the status and the registry's error.
[[nodiscard]] Result<std::string> site_request(const Config& config, std::string_view method, const std::string& resource,
                                               std::string_view content_type, std::string_view body);

// What the registry holds of this site: a witness of the journal's head that outlives
// every file at the site (docs/journal.md, "Witnesses of the head"), read once before
// the journal opens. GET /v1/sites/{site}, then its newest record; each request bounded
// by `timeout`, no retry. The caller checks the record's signature before it believes it.
struct RegistryHead {
  uint64_t held_through = 0;           // the newest record held (0: none)
  std::optional<StoredRecord> newest;  // that record, as the site signed it
  std::string checkpoint_note;         // the newest checkpoint held, signed note ("": none)
};
[[nodiscard]] Result<RegistryHead> read_registry_head(const Config& config, std::chrono::milliseconds timeout);
// The site's records the registry holds from `from_seq` on, at most `max` (one GET of
// /v1/sites/{site}/records), bytes as the site signed them: what a journal that lost
// them takes back, checking each (Journal, HeadWitness::records).
[[nodiscard]] Result<std::vector<StoredRecord>> read_registry_records(const Config& config, uint64_t from_seq,
                                                                      size_t max, std::chrono::milliseconds timeout);

struct UploaderStatus {
  std::string url;
  uint64_t cursor = 0;            // highest seq receipted
  uint64_t uploaded_records = 0;  // by this process
  uint64_t batches = 0, checkpoints = 0, retries = 0;
  uint64_t cosignatures = 0;      // the registry's, kept (docs/verification.md §3.1)
  uint64_t bytes_sent = 0;        // HTTP bytes written (gzip bodies and headers)
  int64_t last_receipt_ms = 0;
  std::string last_error;         // the last failure; "" after a success
  std::string stopped;            // why a stream stopped for good ("" while it runs)
};

class Uploader {
 public:
  using LogFn = JournalWriter::LogFn;
  // `writer` must outlive the uploader; it is given the receipts and checkpoint requests.
  Uploader(const Config& config, JournalWriter& writer, LogFn log);
  ~Uploader();  // stop()s
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  // Reads the credential files and starts the thread; errors name the file.
  [[nodiscard]] Result<void> start();
  // Ends the request in flight at its timeout at the latest. Idempotent.
  void stop();
  UploaderStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv::uploader
