#include "mrv/uploader/uploader.hpp"

#include <syslog.h>

#include <algorithm>
#include <cctype>
#include <future>
#include <optional>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "mrv/core/clock.hpp"
#include "mrv/core/cosignature.hpp"
#include "mrv/core/gzip.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/core/secret_file.hpp"
#include "mrv/uploader/https_client.hpp"

namespace mrv::uploader {
namespace {

using Clk = std::chrono::steady_clock;
using json = nlohmann::json;

// A batch ready to send: its gzip body and what its receipt must name.
struct Prepared {
  uint64_t first = 0, last = 0, count = 0;
  std::string last_hash_hex;
  std::string body;
};

Result<Prepared> build_batch(Journal& journal, uint64_t from_seq, size_t max_records,
                             size_t max_bytes, int gzip_level) {
  Prepared p;
  std::string lines;
  auto read = journal.for_each_record(from_seq, UINT64_MAX, [&](const StoredRecord& rec) {
    if (p.count > 0 && lines.size() >= max_bytes) return;  // full: the rest waits
    if (p.count++ == 0) p.first = rec.seq;
    p.last = rec.seq;
    p.last_hash_hex = to_hex(rec.hash);
    append_record_line(lines, rec.seq, rec.canonical, rec.hash, rec.signature);
  }, max_records);
  if (!read) return tl::unexpected(read.error());
  if (p.count > 0)
    if (auto z = gzip_compress(lines, gzip_level, p.body); !z) return tl::unexpected(z.error());
  return p;
}

// Path segments are percent-encoded: a site id may hold ':' and '/'.
std::string path_segment(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
    else out += {'%', kHex[c >> 4], kHex[c & 15]};
  }
  return out;
}

enum class Verdict { ok, retry, stop };

Verdict verdict_of(int status) {
  if (status >= 200 && status < 300) return Verdict::ok;
  if (status == 408 || status == 429 || status >= 500) return Verdict::retry;
  return Verdict::stop;
}

// "HTTP 422 bad_signature (signature, seq 5): …" from the registry's error body.
std::string describe(const HttpResponse& r) {
  std::string s = "HTTP " + std::to_string(r.status);
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error")) {
    s += " " + j.value("error", "");
    s += " (" + j.value("check", "");
    if (j.contains("seq")) s += ", seq " + j["seq"].dump();
    s += "): " + j.value("message", "");
  } else {
    s += ": " + r.body.substr(0, 200);
  }
  return s;
}

}  // namespace

struct Uploader::Impl {
  UploadConfig options;
  std::string site_path;  // /v1/sites/<site>
  std::filesystem::path journal_path;
  JournalWriter& writer;
  LogFn log;

  std::thread thread;
  mutable std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  UploaderStatus status;  // guarded by mutex

  // Upload thread only.
  std::optional<HttpsClient> client;
  std::optional<Journal> reader, prefetch_reader;  // one per thread that reads
  std::future<Result<Prepared>> prefetch;
  uint64_t prefetch_from = 0;
  std::optional<Prepared> pending;  // built, not yet receipted
  uint64_t cursor = 0, head_at_open = 0, checkpoints_posted = 0, checkpoint_asked_at = 0;
  bool site_state_read = false, registered_site = false, records_stopped = false, checkpoints_stopped = false;
  std::set<std::string> registered;  // key ids and config hashes the registry has
  size_t max_records;
  uint64_t partial_first = 0;
  Clk::time_point partial_since{};
  int failures = 0;
  bool draining = false;  // stopping: send short batches now
  std::mt19937_64 rng{std::random_device{}()};

  Impl(const Config& c, JournalWriter& w, LogFn l)
      : options(c.upload), site_path("/v1/sites/" + path_segment(c.site_id)),
        journal_path(c.journal.path), writer(w), log(std::move(l)),
        max_records(static_cast<size_t>(c.upload.batch_max_records)) {
    status.url = options.url;
  }

  bool stopped() {
    std::lock_guard lock(mutex);
    return stopping;
  }
  // Sleeps, waking at once for stop(); false when stopping.
  bool sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mutex);
    return !wake.wait_for(lock, d, [&] { return stopping; });
  }
  void failed(const std::string& what) {
    ++failures;
    std::lock_guard lock(mutex);
    if (status.last_error != what) log(LOG_WARNING, "upload: " + what + " (will retry)");
    status.last_error = what;
    ++status.retries;
  }
  void succeeded() {
    failures = 0;
    std::lock_guard lock(mutex);
    if (!status.last_error.empty()) log(LOG_NOTICE, "upload: the registry answers again");
    status.last_error.clear();
  }
  void stop_stream(bool& stream, const std::string& why) {
    stream = true;
    log(LOG_CRIT, "upload: " + why + "; this stream stops until the agent is restarted");
    std::lock_guard lock(mutex);
    status.stopped = status.stopped.empty() ? why : status.stopped + "; " + why;
    status.last_error = why;
  }
  std::chrono::milliseconds backoff() {
    // Capped exponential, full jitter in its upper half: agents that lost the registry
    // together do not come back together.
    int64_t d = options.backoff_min_ms;
    for (int i = 1; i < failures && d < options.backoff_max_ms; ++i) d *= 2;
    d = std::min<int64_t>(d, options.backoff_max_ms);
    return std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(d / 2, d)(rng));
  }

  // A response, or nullopt after a transport failure (already counted).
  std::optional<HttpResponse> send(HttpRequest request, const char* what) {
    auto r = client->send(request);
    {
      std::lock_guard lock(mutex);
      status.bytes_sent = client->bytes_sent();
    }
    if (!r) {
      failed(std::string(what) + ": " + r.error().to_string());
      return std::nullopt;
    }
    return std::move(*r);
  }

  // Sends one write; true when the registry took it. A retryable failure is counted; a
  // final refusal stops `stream`.
  bool write(HttpRequest request, const char* what, bool& stream, HttpResponse* out = nullptr) {
    auto r = send(std::move(request), what);
    if (!r) return false;
    switch (verdict_of(r->status)) {
      case Verdict::ok:
        if (out) *out = std::move(*r);
        return true;
      case Verdict::retry:
        failed(std::string(what) + ": " + describe(*r));
        return false;
      case Verdict::stop:
        if (out) *out = std::move(*r);
        else stop_stream(stream, std::string(what) + " refused: " + describe(*r));
        return false;
    }
    return false;
  }

  Result<void> open_readers() {
    auto r = Journal::open_read_only(journal_path);
    if (!r) return tl::unexpected(r.error());
    auto p = Journal::open_read_only(journal_path);
    if (!p) return tl::unexpected(p.error());
    auto stats = r->stats();
    if (!stats) return tl::unexpected(stats.error());
    cursor = stats->upload_cursor;
    head_at_open = stats->last_seq;
    reader.emplace(std::move(*r));
    prefetch_reader.emplace(std::move(*p));
    std::lock_guard lock(mutex);
    status.cursor = cursor;
    return {};
  }

  // Once per start: the site's state on the registry (where its checkpoints stand), then
  // the keys and configs the journal holds. The writer opened the journal before the
  // uploader started, so no key or config of this process comes later.
  bool register_site() {
    if (registered_site) return true;
    if (!site_state_read) {
      auto r = send({"GET", site_path, "", "", ""}, "read the site's state");
      if (!r) return false;
      if (verdict_of(r->status) != Verdict::ok) {
        if (verdict_of(r->status) == Verdict::retry) failed("read the site's state: " + describe(*r));
        else stop_stream(records_stopped, "the registry refused the site: " + describe(*r));
        return false;
      }
      auto j = json::parse(r->body, nullptr, false);
      if (j.is_object() && j["latest_checkpoint"].is_object())
        checkpoints_posted = j["latest_checkpoint"].value("tree_size", uint64_t{0});
      if (j.is_object()) rewind_to(j.value("held_through", cursor));
      site_state_read = true;
    }
    auto keys = reader->public_keys();
    if (!keys) return failed("read keys: " + keys.error().to_string()), false;
    for (const auto& k : *keys) {
      if (registered.count(k.key_id_hex)) continue;
      if (!write({"PUT", site_path + "/keys", "application/x-pem-file", "", k.pem}, "register key", records_stopped))
        return false;
      registered.insert(k.key_id_hex);
    }
    auto configs = reader->configs();
    if (!configs) return failed("read configs: " + configs.error().to_string()), false;
    for (const auto& [hash, text] : *configs) {
      if (registered.count(hash)) continue;
      if (!write({"PUT", site_path + "/configs/" + hash, "application/toml", "", text}, "post config",
                 records_stopped))
        return false;
      registered.insert(hash);
    }
    registered_site = true;
    return true;
  }

  // The registry holds less than it once receipted (restored from a backup): resend from
  // where it stands, if the journal still has those records. True when rewound.
  bool rewind_to(uint64_t held) {
    if (held >= cursor) return false;
    auto first = reader->record(held + 1);
    if (!first || !*first) return false;  // pruned: the stream stops on the registry's refusal
    log(LOG_WARNING, "upload: the registry holds only through seq " + std::to_string(held) +
                         ", not " + std::to_string(cursor) + " as receipted; resending from seq " +
                         std::to_string(held + 1));
    cursor = held;
    checkpoints_posted = std::min(checkpoints_posted, held);  // those after it are lost too
    std::lock_guard lock(mutex);
    status.cursor = cursor;
    return true;
  }

  Result<Prepared> take_batch() {
    if (prefetch.valid()) {
      auto p = prefetch.get();
      if (prefetch_from == cursor + 1) return p;
    }
    return build_batch(*reader, cursor + 1, max_records, options.batch_max_bytes, options.gzip_level);
  }

  void start_prefetch(uint64_t from) {
    prefetch_from = from;
    prefetch = std::async(std::launch::async, [this, from] {
      return build_batch(*prefetch_reader, from, max_records, options.batch_max_bytes, options.gzip_level);
    });
  }

  // Sends `pending` until receipted; true on a receipt.
  bool send_batch(uint64_t head) {
    const Prepared& b = *pending;
    if (head >= b.last + max_records && !prefetch.valid()) start_prefetch(b.last + 1);  // a backlog
    HttpResponse r;  // status 0 after a retryable failure (already counted)
    if (!write({"POST", site_path + "/records", "application/x-ndjson", "gzip", b.body}, "post records",
               records_stopped, &r) &&
        r.status == 0)
      return false;
    if (r.status == 413 && b.count > 1) {  // the registry takes smaller batches
      max_records = std::max<size_t>(1, b.count / 2);
      log(LOG_WARNING, "upload: batch too large for the registry, now at most " + std::to_string(max_records) + " records");
      pending.reset();
      return false;
    }
    auto j = json::parse(r.body, nullptr, false);
    if (r.status == 409 && j.is_object() && j.value("error", "") == "gap" &&
        rewind_to(j.value("held_through", uint64_t{0}))) {
      pending.reset();
      return false;
    }
    if (r.status >= 300) {
      stop_stream(records_stopped, "post records refused: " + describe(r));
      return false;
    }
    if (!j.is_object() || j.value("first_seq", uint64_t{0}) != b.first || j.value("last_seq", uint64_t{0}) != b.last ||
        j.value("last_hash", "") != b.last_hash_hex) {
      failed("a receipt that does not name the batch (seq " + std::to_string(b.first) + ".." +
             std::to_string(b.last) + "): " + r.body.substr(0, 200));
      return false;
    }
    cursor = b.last;
    writer.record_receipt(cursor);
    succeeded();
    std::lock_guard lock(mutex);
    status.cursor = cursor;
    status.uploaded_records += b.count;
    ++status.batches;
    status.last_receipt_ms = utc_now_ms();
    pending.reset();
    return true;
  }

  // Posts the checkpoints whose records are all receipted, oldest first.
  bool post_checkpoints() {
    if (checkpoints_stopped || cursor <= checkpoints_posted) return true;
    auto cps = reader->checkpoints(checkpoints_posted + 1, cursor);
    if (!cps) return failed("read checkpoints: " + cps.error().to_string()), false;
    for (const auto& c : *cps) {
      HttpResponse r;  // status 0 after a retryable failure (already counted)
      if (!write({"POST", site_path + "/checkpoints", "text/plain", "", c.checkpoint.note}, "post checkpoint",
                 checkpoints_stopped, &r)) {
        // Checkpoint-only records the registry held unproven, and dropped because they
        // were not what this checkpoint signs (another credential holder's): resend them.
        auto j = json::parse(r.body, nullptr, false);
        if (r.status == 409 && j.is_object() && j.value("error", "") == "records_missing" &&
            rewind_to(j.value("held_through", cursor))) {
          failed("post checkpoint: " + describe(r));
          return false;
        }
        if (r.status != 0) stop_stream(checkpoints_stopped, "post checkpoint refused: " + describe(r));
        return false;
      }
      checkpoints_posted = c.checkpoint.tree_size;
      keep_cosignature(c.checkpoint, r.body);
      std::lock_guard lock(mutex);
      ++status.checkpoints;
    }
    return true;
  }

  // The registry's cosignature in a checkpoint receipt (docs/registry-api.md §3.4), kept
  // in the journal for bundles. One that is not a cosignature line is logged, not kept:
  // the checkpoint itself was taken all the same.
  void keep_cosignature(const Checkpoint& checkpoint, const std::string& receipt) {
    auto j = json::parse(receipt, nullptr, false);
    if (!j.is_object() || !j.contains("cosignature")) return;
    const json& line = j["cosignature"];
    std::string root = to_base64({reinterpret_cast<const char*>(checkpoint.root.data()), checkpoint.root.size()});
    bool names_it = j.value("tree_size", json()) == checkpoint.tree_size && j.value("root", json()) == root;
    auto refused = [](const char* why) {
      return Result<Cosignature>(fail(ErrorCode::invalid_argument, "cosignature", why));
    };
    auto parsed = !names_it          ? refused("the receipt names another tree size or root")
                  : line.is_string() ? parse_cosignature(line.get<std::string>())
                                     : refused("not a string");
    if (!parsed) {
      log(LOG_WARNING, "upload: the receipt of the checkpoint of tree size " + std::to_string(checkpoint.tree_size) +
                           " carries no valid cosignature: " + parsed.error().message);
      return;
    }
    writer.record_cosignature(checkpoint, line.get<std::string>());
    std::lock_guard lock(mutex);
    ++status.cosignatures;
  }

  enum class Step { progress, idle, failed };

  Step step() {
    if (!reader)
      if (auto r = open_readers(); !r) return failed("open the journal: " + r.error().to_string()), Step::failed;
    if (records_stopped) return Step::idle;
    if (!register_site()) return Step::failed;
    uint64_t head = std::max(writer.stats().last_seq, head_at_open);
    if (head > cursor) {
      if (!pending) {
        // A short batch waits for its age, unless the writer has more coming.
        if (head - cursor < max_records) {
          if (partial_first != cursor + 1) partial_first = cursor + 1, partial_since = Clk::now();
          if (!draining && Clk::now() - partial_since < std::chrono::milliseconds(options.batch_max_age_ms))
            return post_checkpoints() ? Step::idle : Step::failed;
        }
        auto b = take_batch();
        if (!b) return failed("read records: " + b.error().to_string()), Step::failed;
        if (b->count == 0) return Step::idle;
        pending = std::move(*b);
      }
      if (!send_batch(head)) return records_stopped ? Step::idle : Step::failed;
      return post_checkpoints() ? Step::progress : Step::failed;
    }
    if (!post_checkpoints()) return Step::failed;
    // Caught up: make sure a checkpoint covers everything the registry holds.
    if (cursor > checkpoints_posted && checkpoint_asked_at != cursor) {
      writer.request_checkpoint("upload");
      checkpoint_asked_at = cursor;
    }
    return Step::idle;
  }

  void run() {
    while (!stopped()) {
      Step s = step();
      if (s == Step::failed) {
        if (prefetch.valid()) prefetch.get();  // built from a cursor that may not hold
        if (!sleep_for(backoff())) break;
      } else if (s == Step::idle) {
        if (!sleep_for(std::chrono::milliseconds(100))) break;
      }
    }
    if (prefetch.valid()) prefetch.get();
    // At stop, while the registry answers, what waits for its batch's age goes now
    // (bounded: a stop must not hang on a slow link).
    draining = true;
    auto until = Clk::now() + std::min(std::chrono::milliseconds(options.timeout_ms), std::chrono::milliseconds(5000));
    while (failures == 0 && !records_stopped && Clk::now() < until && step() == Step::progress) {}
    if (prefetch.valid()) prefetch.get();
  }
};

Result<HttpsClient> registry_client(const UploadConfig& upload) {
  HttpsClientOptions o;
  o.url = upload.url;
  o.ca_file = upload.ca_file;
  o.client_cert_file = upload.client_cert_file;
  o.client_key_file = upload.client_key_file;
  o.timeout = std::chrono::milliseconds(upload.timeout_ms);
  if (!upload.token_file.empty()) {
    auto token = read_secret_file(upload.token_file);
    if (!token) return tl::unexpected(token.error());
    if (token->empty()) return fail(ErrorCode::config, upload.token_file.string(), "the token file is empty");
    o.bearer_token = std::move(*token);
  }
  return HttpsClient::create(std::move(o));
}

Result<std::string> site_request(const Config& config, std::string_view method, const std::string& resource,
                                 std::string_view content_type, std::string_view body) {
  auto client = registry_client(config.upload);
  if (!client) return tl::unexpected(client.error());
  HttpRequest request;
  request.method = method;
  request.target = "/v1/sites/" + path_segment(config.site_id) + "/" + resource;
  request.content_type = content_type;
  request.body = body;
  auto response = client->send(request);
  if (!response) return tl::unexpected(response.error());
  if (response->status != 200)
    return fail(ErrorCode::invalid_argument, config.upload.url + request.target,
                "HTTP " + std::to_string(response->status) + ": " + response->body);
  return std::move(response->body);
}

Result<std::string> post_report(const Config& config, std::string_view report_json) {
  return site_request(config, "POST", "reports", "application/json", report_json);
}

namespace {

// GETs for the witness of the head: each bounded by `timeout`, any answer but 200 an error.
class RegistryReader {
 public:
  static Result<RegistryReader> create(const Config& config, std::chrono::milliseconds timeout) {
    UploadConfig upload = config.upload;
    upload.timeout_ms = static_cast<int>(std::min<int64_t>(upload.timeout_ms, timeout.count()));
    auto client = registry_client(upload);
    if (!client) return tl::unexpected(client.error());
    return RegistryReader(config, std::move(*client));
  }
  const std::string& site() const { return site_; }
  Result<std::string> get(const std::string& target) {
    auto r = client_.send({"GET", target, "", "", ""});
    if (!r) return tl::unexpected(r.error());
    if (r->status != 200) return fail(ErrorCode::io, url_ + target, describe(*r));
    return std::move(r->body);
  }

 private:
  RegistryReader(const Config& config, HttpsClient client)
      : url_(config.upload.url), site_("/v1/sites/" + path_segment(config.site_id)), client_(std::move(client)) {}
  std::string url_, site_;
  HttpsClient client_;
};

// One page of record lines from the read API, as stored records.
Result<std::vector<StoredRecord>> get_records(RegistryReader& reader, const std::string& url, uint64_t from_seq,
                                              size_t max) {
  std::string target = reader.site() + "/records?from_seq=" + std::to_string(from_seq) +
                       "&to_seq=" + std::to_string(from_seq + std::max<size_t>(max, 1) - 1);
  auto body = reader.get(target);
  if (!body) return tl::unexpected(body.error());
  std::vector<StoredRecord> out;
  for (size_t at = 0; at < body->size();) {
    size_t end = std::min(body->find('\n', at), body->size());
    std::string_view line(body->data() + at, end - at);
    at = end + 1;
    if (line.empty()) continue;
    auto parsed = parse_record_line(line);
    auto hash = parsed ? from_hex(parsed->hash_hex) : Result<std::string>();
    auto signature = parsed ? from_base64(parsed->signature_b64) : Result<std::string>();
    if (!parsed || !hash || !signature)
      return fail(ErrorCode::io, url + target, "not a record line: " + std::string(line.substr(0, 120)));
    out.push_back({parsed->seq, std::move(parsed->record), std::move(*hash), std::move(*signature)});
  }
  return out;
}

}  // namespace

Result<std::vector<StoredRecord>> read_registry_records(const Config& config, uint64_t from_seq, size_t max,
                                                        std::chrono::milliseconds timeout) {
  auto reader = RegistryReader::create(config, timeout);
  if (!reader) return tl::unexpected(reader.error());
  return get_records(*reader, config.upload.url, from_seq, max);
}

Result<RegistryHead> read_registry_head(const Config& config, std::chrono::milliseconds timeout) {
  auto reader = RegistryReader::create(config, timeout);
  if (!reader) return tl::unexpected(reader.error());
  auto state = reader->get(reader->site());
  if (!state) return tl::unexpected(state.error());
  auto j = json::parse(*state, nullptr, false);
  if (!j.is_object() || !j["held_through"].is_number_unsigned())
    return fail(ErrorCode::io, config.upload.url + reader->site(), "not a site's state: " + state->substr(0, 200));
  RegistryHead head;
  head.held_through = j["held_through"].get<uint64_t>();
  if (j["latest_checkpoint"].is_object()) head.checkpoint_note = j["latest_checkpoint"].value("note", "");
  if (head.held_through == 0) return head;
  auto newest = get_records(*reader, config.upload.url, head.held_through, 1);
  if (!newest) return tl::unexpected(newest.error());
  if (!newest->empty() && newest->front().seq == head.held_through) head.newest = std::move(newest->front());
  return head;
}

Uploader::Uploader(const Config& config, JournalWriter& writer, LogFn log)
    : impl_(std::make_unique<Impl>(config, writer, std::move(log))) {}

Uploader::~Uploader() { stop(); }

Result<void> Uploader::start() {
  Impl& u = *impl_;
  auto client = registry_client(u.options);
  if (!client) return tl::unexpected(client.error());
  u.client.emplace(std::move(*client));
  u.thread = std::thread([this] { impl_->run(); });
  return {};
}

void Uploader::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

UploaderStatus Uploader::status() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->status;
}

}  // namespace mrv::uploader
