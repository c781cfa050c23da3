#include "api.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>

#include <nlohmann/json.hpp>

#include "mrv/evidence/bundle.hpp"
#include "mrv/registry/cosigner.hpp"
#include "mrv/core/log.hpp"
#include "mrv/core/secret_file.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/registry/enrollment.hpp"
#include "mrv/registry/site_page.hpp"
#include "audit_log.hpp"
#include "periodic.hpp"

namespace mrv::registry {

namespace {

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

constexpr size_t kMaxTpmBody = 32 * 1024;  // a TPM key statement (16 KiB of JSON) or its activation

constexpr size_t kMaxAuditLines = 10'000;  // per GET /v1/audit

// A browser's credentials (RFC 7617): base64 of "user:password", the token being the
// password (the user name is not checked). Anything else is a password that matches no
// token, so the request is refused as unauthenticated.
std::string basic_password(std::string_view encoded) {
  auto decoded = from_base64(encoded);
  if (!decoded) return {};
  auto colon = decoded->find(':');
  return colon == std::string::npos ? std::string() : decoded->substr(colon + 1);
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = from_hex(s.substr(i + 1, 2));
      if (hex && hex->size() == 1) {
        out += (*hex)[0];
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

void parse_target(std::string_view target, Admission& a) {
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (q != std::string_view::npos) {
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      size_t eq = pair.find('=');
      a.query[percent_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    }
  }
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    a.path.push_back(percent_decode(path.substr(0, slash)));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
}

std::optional<uint64_t> number(const Admission& a, const std::string& key) {
  auto it = a.query.find(key);
  if (it == a.query.end() || it->second.empty() || it->second.size() > 19 ||
      it->second.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(it->second);
}

// What each write takes as its body: its media type (parameters such as charset aside).
const char* media_type_of(Endpoint e) {
  switch (e) {
    case Endpoint::put_key: return "application/x-pem-file";
    case Endpoint::put_config: return "application/toml";
    case Endpoint::post_records: return "application/x-ndjson";
    case Endpoint::post_checkpoint: return "text/plain";
    case Endpoint::post_report: return "application/json";
    case Endpoint::post_tpm_statement: return "application/json";
    case Endpoint::post_tpm_activation: return "application/json";
    case Endpoint::admin_action: return "application/json";
    default: return nullptr;
  }
}

// The endpoint a method and path name (HEAD reads as GET), or nullopt.
std::optional<Endpoint> endpoint_of(http::verb method, const std::vector<std::string>& path) {
  std::string_view resource = path.size() > 3 ? std::string_view(path[3]) : std::string_view();
  size_t n = path.size();
  if (method == http::verb::put) {
    if (resource == "keys" && n == 4) return Endpoint::put_key;
    if (resource == "configs" && n == 5) return Endpoint::put_config;
  } else if (method == http::verb::post) {
    if (resource == "records" && n == 4) return Endpoint::post_records;
    if (resource == "checkpoints" && n == 4) return Endpoint::post_checkpoint;
    if (resource == "reports" && n == 4) return Endpoint::post_report;
    if (resource == "keys" && n == 6 && path[5] == "tpm") return Endpoint::post_tpm_statement;
    if (resource == "keys" && n == 7 && path[5] == "tpm" && path[6] == "activation") return Endpoint::post_tpm_activation;
  } else if (method == http::verb::get || method == http::verb::head) {
    if (n == 3) return Endpoint::summary;
    if (resource == "keys" && n == 4) return Endpoint::keys;
    if (resource == "records" && n == 4) return Endpoint::records;
    if (resource == "checkpoints" && n == 4) return Endpoint::checkpoints;
    if (resource == "reports" && n == 4) return Endpoint::reports;
    if (resource == "reports" && n == 5) return Endpoint::report;
    if (resource == "bundle" && n == 4) return Endpoint::bundle;
    if (resource == "page" && n == 4) return Endpoint::page;
  }
  return std::nullopt;
}

}  // namespace

// One site's store, or why it could not be opened. Slots are never erased (a removed
// site's records stay readable), so a request may hold its store without a lock.
struct SiteSlot {
  std::unique_ptr<SiteStore> store;
  std::string unavailable;
};

struct Api::Impl {
  const RegistryConfig& config;
  StoreLimits limits;
  VerifyPool& pool;
  std::vector<ReaderEntry> admins;  // with token files read and hashed
  // Who may do what: changed by admin actions (exclusive), read by every request (shared).
  mutable std::shared_mutex roster_mutex;
  Roster roster;
  Principals principals;
  std::unique_ptr<AuditLog> audit;
  std::map<std::string, SiteSlot, std::less<>> sites;
  std::optional<Signer> bundle_signer;  // signs the manifests of bundles (not thread-safe)
  std::optional<Cosigner> cosigner;     // cosigns the checkpoints accepted ([cosign])
  std::string tpm_ca_pem;               // [tpm] ca_file: TPM manufacturers' CAs ("": no activations)
  std::mutex bundle_mutex;
  std::atomic<uint64_t> bundle_count{0};
  bool following = true;              // the follower's last look at the audit log worked
  std::optional<Periodic> follower;   // last: stopped before the members it uses go

  Impl(const RegistryConfig& c, StoreLimits l, VerifyPool& p) : config(c), limits(l), pool(p) {}

  Principal authenticate(const RequestHeader& req, const std::optional<PeerCertificate>& cert) const {
    std::optional<std::string> token_sha256;
    auto auth = sv(req[http::field::authorization]);
    if (auth.starts_with("Bearer ")) token_sha256 = to_hex(sha256(auth.substr(7)));
    if (auth.starts_with("Basic ")) token_sha256 = to_hex(sha256(basic_password(auth.substr(6))));
    return principals.find(token_sha256, cert);
  }

  // A site's store, with the config's pinned key files (none for an enrolled site) and
  // the roster's pins and revocations.
  Result<std::unique_ptr<SiteStore>> open_store(const std::string& id, const RosterSite& entry,
                                                std::vector<PublicKey> pinned) {
    for (const auto& pem : entry.pinned_pems) pinned.push_back(*PublicKey::from_pem(pem));  // checked when enrolled
    SiteOptions options{std::move(pinned), entry.checkpoint_only, limits, cosigner ? &*cosigner : nullptr};
    Result<std::unique_ptr<SiteStore>> store = fail(ErrorCode::storage, id, "not opened");
    try {
      store = SiteStore::open(config.data_dir, id, std::move(options), pool);
    } catch (const std::exception& e) {  // SQL that cannot be prepared on a damaged file
      store = fail(ErrorCode::corruption, (config.data_dir / "sites" / site_file_name(id)).string(), e.what());
    }
    if (store)
      for (const auto& [key_id, from_seq] : entry.revoked_from) (*store)->revoke_key(key_id, from_seq);
    return store;
  }

  // Into the site's slot: the store, or why it could not be opened (its requests are then
  // answered 503).
  void place_store(const std::string& id, Result<std::unique_ptr<SiteStore>> store) {
    SiteSlot& slot = sites[id];
    if (store) {
      slot.store = std::move(*store);
      return;
    }
    slot.unavailable = store.error().to_string();
    log::error("registry: site '" + id + "' is held back, its store cannot be opened: " + slot.unavailable);
  }

  // The roster entry an add_site makes (what apply_admin_action will write).
  static RosterSite roster_site_of(const AdminAction& a) {
    RosterSite s;
    s.credential = a.credential;
    s.checkpoint_only = a.checkpoint_only;
    s.pinned_pems = a.keys;
    return s;
  }

  // POST /v1/admin/actions (docs/registry-api.md §8.1): checked, kept in the audit log,
  // then in force; the answer is the audit entry.
  Reply admin_action(const std::string& actor, const std::string& body) {
    auto action = parse_admin_action(body);
    if (!action) return {refusal(action.error()), {}};
    // A new site's store is opened (its files created, tens of ms) before the roster is
    // locked, so uploads to the other sites do not wait for it.
    Result<std::unique_ptr<SiteStore>> opened = fail(ErrorCode::storage, action->site, "not opened");
    if (action->verb == "add_site") {
      {
        std::shared_lock peek(roster_mutex);
        if (auto allowed = check_admin_action(roster, *action); !allowed) return {refusal(allowed.error()), {}};
      }
      opened = open_store(action->site, roster_site_of(*action), {});
    }
    std::unique_lock lock(roster_mutex);
    // Another registry process on the same database may have appended meanwhile: the
    // action is checked against every entry stored, and again if its seq was taken.
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (auto caught = catch_up_locked(); !caught) return {audit_failure(caught.error()), {}};
      if (auto allowed = check_admin_action(roster, *action); !allowed) return {refusal(allowed.error()), {}};
      if (!action->credential.token_sha256.empty() || !action->credential.client_cert_cn.empty() ||
          !action->credential.client_cert_sha256.empty())
        if (auto holder = principals.holder(action->credential);
            holder && holder->kind == Principal::Kind::admin)
          return {error_response(409, "conflict", "admin", "admin '" + holder->name + "' has that credential"), {}};
      auto line = audit->append(actor, utc_now_ms(), action->to_json());
      if (!line) return {audit_failure(line.error()), {}};
      if (!*line) continue;
      put_in_force(*action, std::move(opened));
      principals.rebuild(roster, admins);
      log::notice("registry: admin '" + actor + "': " + **line);
      return {json_response(200, **line + "\n"), {}};
    }
    return {error_response(503, "unavailable", "storage", "the audit log's next seq was taken three times in a row "
                                                          "by other registry processes; try again"), {}};
  }

  // An allowed action, once in the audit log, into the roster and the site's store.
  void put_in_force(const AdminAction& action, Result<std::unique_ptr<SiteStore>> opened) {
    apply_admin_action(roster, action);
    const std::string& id = action.site;
    if (action.verb == "add_site") {
      place_store(id, std::move(opened));
    } else if (!id.empty() && sites.count(id) && sites.at(id).store) {
      SiteStore& store = *sites.at(id).store;
      if (action.verb == "pin_key" || action.verb == "rotate_key") store.pin_key(*PublicKey::from_pem(action.keys.front()));
      if (action.verb == "revoke_key" || action.verb == "rotate_key") store.revoke_key(action.key_id, action.from_seq);
    }
  }

  // Puts in force the audit entries this process has not applied yet: appended by another
  // registry process on the same database, or committed although this one was told the
  // commit failed (a database failover). With roster_mutex held exclusively.
  Result<void> catch_up_locked() {
    auto taken = audit->catch_up([&](uint64_t seq, const nlohmann::json& entry) -> Result<void> {
      auto action = parse_admin_action(entry.dump());
      if (!action) return fail(ErrorCode::corruption, "", action.error().message);
      if (auto allowed = check_admin_action(roster, *action); !allowed) {
        log::warning("registry: audit seq " + std::to_string(seq) + " (" + action->verb + ") is not applied: " +
                     allowed.error().message);
        return {};
      }
      Result<std::unique_ptr<SiteStore>> opened = fail(ErrorCode::storage, action->site, "not opened");
      if (action->verb == "add_site") opened = open_store(action->site, roster_site_of(*action), {});
      put_in_force(*action, std::move(opened));
      log::notice("registry: audit seq " + std::to_string(seq) + " (" + action->verb + ") put in force from the log");
      return {};
    });
    if (!taken) return tl::unexpected(taken.error());
    if (*taken) principals.rebuild(roster, admins);
    return {};
  }

  // With a shared database ([database]): what other registry processes append is put in
  // force here within a second, so a suspension or revocation through one holds on all.
  // The exclusive lock is taken only when there is something new.
  void follow_audit_log() {
    uint64_t known = 0;
    {
      std::shared_lock lock(roster_mutex);
      known = audit->last_seq();
    }
    auto next = audit->lines(known + 1, 1);
    Result<void> caught = next ? Result<void>{} : tl::unexpected(next.error());
    if (next && !next->empty()) {
      std::unique_lock lock(roster_mutex);
      caught = catch_up_locked();
    }
    if (!caught && following) log::warning("registry: cannot follow the audit log: " + caught.error().to_string());
    if (caught && !following) log::notice("registry: following the audit log again");
    following = bool(caught);
  }

  // The audit log could not be read or written: 503 while the database is away, else 500.
  static Response audit_failure(const Error& e) {
    if (e.code == ErrorCode::busy) return error_response(503, "unavailable", "storage", e.to_string());
    return error_response(500, "storage", "storage", e.to_string());
  }

  // GET /v1/admin/roster: who may do what now, from the config and the audit log.
  Reply roster_view() const {
    nlohmann::json sites_json = nlohmann::json::array(), readers_json = nlohmann::json::array();
    std::shared_lock lock(roster_mutex);
    for (const auto& [id, s] : roster.sites) {
      nlohmann::json revoked = nlohmann::json::object();
      for (const auto& [key_id, from] : s.revoked_from) revoked[key_id] = from;
      sites_json.push_back({{"site", id}, {"origin", s.from_config ? "config" : "enrolled"},
                            {"state", s.removed ? "removed" : s.suspended ? "suspended" : "active"},
                            {"checkpoint_only", s.checkpoint_only}, {"pinned_at_run_time", s.pinned_pems.size()},
                            {"revoked_from_seq", revoked}});
    }
    for (const auto& [name, r] : roster.readers)
      readers_json.push_back({{"reader", name}, {"origin", r.from_config ? "config" : "enrolled"},
                              {"state", r.suspended ? "suspended" : "active"}});
    nlohmann::json out = {{"sites", sites_json}, {"readers", readers_json}, {"audit_seq", audit->last_seq()}};
    return {json_response(200, out.dump()), {}};
  }

  // GET /v1/audit?from_seq=N: the audit log's lines (NDJSON), at most kMaxAuditLines.
  Reply audit_lines(const Admission& a) const {
    bool given = a.query.count("from_seq") > 0;
    auto from = number(a, "from_seq");
    if (given && !from) return {error_response(400, "bad_request", "format", "from_seq must be a whole number"), {}};
    std::shared_lock lock(roster_mutex);
    auto text = audit->lines(from.value_or(1), kMaxAuditLines);
    if (!text) return {error_response(500, "storage", "storage", text.error().to_string()), {}};
    return {json_response(200, std::move(*text), "application/x-ndjson"), {}};
  }

  static Response json_response(int status, std::string body, const std::string& type = "application/json") {
    Response res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }
  static Response refusal(const Refusal& r) { return json_response(r.status, r.to_json()); }
  static Response answer(const Answer<std::string>& a, const std::string& type = "application/json") {
    return a ? json_response(200, *a, type) : refusal(a.error());
  }

  // A verifier bundle of the site's records in [from, to) (docs/verification.md §4), its
  // manifest signed by the registry's key, written to a temp file the caller sends.
  Reply bundle(SiteStore& store, const Admission& a) {
    if (!bundle_signer)
      return {error_response(404, "not_found", "format", "this registry makes no bundles (no [bundle] key_file)"), {}};
    auto get = [&](const char* key) { auto it = a.query.find(key); return it == a.query.end() ? std::string() : it->second; };
    auto from = parse_time_ms(get("from"));
    auto to = parse_time_ms(get("to"));
    if (!from || !to) return {error_response(400, "bad_request", "format", "from and to must be UTC ms or RFC 3339"), {}};
    if (*from > *to) return {error_response(400, "bad_request", "format", "from is after to"), {}};
    auto journal = Journal::open_read_only(store.journal_path());  // its own snapshot: no site lock
    if (!journal) return {error_response(500, "storage", "storage", journal.error().to_string()), {}};
    auto latest = journal->latest_checkpoint();
    if (!latest) return {error_response(500, "storage", "storage", latest.error().to_string()), {}};
    if (!*latest)
      return {error_response(404, "not_found", "checkpoint", "no checkpoint of the site yet: nothing to prove a bundle with"), {}};
    auto tmp = config.data_dir / "tmp" / ("bundle-" + std::to_string(::getpid()) + "-" +
                                          std::to_string(++bundle_count) + ".tar.gz");
    std::error_code ec;
    std::filesystem::create_directories(tmp.parent_path(), ec);
    evidence::BundleRequest request;
    request.from_ms = *from;
    request.to_ms = *to;
    request.out = tmp;
    request.signer = &*bundle_signer;
    request.registry_signer = true;
    request.max_seq = (*latest)->checkpoint.tree_size;
    for (auto& [key_id, activation] : store.tpm_activations()) {
      request.tpm_statements[key_id] = std::move(activation.statement);
      request.tpm_activations[key_id] = activation.activated_ms;
    }
    std::lock_guard lock(bundle_mutex);
    auto written = evidence::write_bundle(*journal, store.id(), request);
    if (!written) {
      std::filesystem::remove(tmp, ec);
      const Error& e = written.error();
      if (e.code == ErrorCode::invalid_argument) return {error_response(400, "bad_request", "format", e.to_string()), {}};
      if (e.code == ErrorCode::not_found)  // a config the records name was never uploaded
        return {error_response(409, "incomplete", "format", e.to_string() + " (the site never uploaded it: PUT …/configs/{sha256})"), {}};
      return {error_response(500, "storage", "storage", e.to_string()), {}};
    }
    return {json_response(200, "", "application/gzip"), tmp};
  }

  Reply records(SiteStore& store, const Admission& a) {
    if (a.query.count("from_ms") || a.query.count("to_ms")) {
      auto get = [&](const char* key) { auto it = a.query.find(key); return it == a.query.end() ? std::string() : it->second; };
      auto from = parse_time_ms(get("from_ms"));
      auto to = parse_time_ms(get("to_ms"));
      if (!from || !to) return {error_response(400, "bad_request", "format", "from_ms and to_ms must be UTC ms or RFC 3339"), {}};
      if (*from > *to) return {error_response(400, "bad_request", "format", "from_ms is after to_ms"), {}};
      return {answer(store.records_by_time(*from, *to), "application/x-ndjson"), {}};
    }
    auto from = number(a, "from_seq"), to = number(a, "to_seq");
    if (!from || !to) return {error_response(400, "bad_request", "format", "give from_seq and to_seq, or from_ms and to_ms"), {}};
    if (*from > *to) return {error_response(400, "bad_request", "format", "from_seq is after to_seq"), {}};
    return {answer(store.records(*from, *to), "application/x-ndjson"), {}};
  }

  // The sites a credential may read, each linked to its page: all for a reader, its own
  // for a site (principal_site).
  Reply site_index(const std::string& principal_site) {
    std::vector<SiteIndexEntry> entries;
    std::shared_lock lock(roster_mutex);
    for (auto& [id, slot] : sites) {
      if (!principal_site.empty() && id != principal_site) continue;
      if (!slot.store) {
        entries.push_back({id, slot.unavailable});
        continue;
      }
      auto e = slot.store->index_entry();
      if (!e) return {refusal(e.error()), {}};
      entries.push_back(std::move(*e));
    }
    return {html_response(render_site_index(entries, utc_now_ms())), {}};
  }

  // No script, nothing from elsewhere, not framed: a hostile site id stays text.
  static Response html_response(std::string body) {
    Response res = json_response(200, std::move(body), "text/html; charset=utf-8");
    res.set("Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'");
    res.set("X-Content-Type-Options", "nosniff");
    res.set(http::field::cache_control, "no-store");
    res.set("Referrer-Policy", "no-referrer");
    return res;
  }

  // The verifiers' page (docs/registry-api.md §4.1): days=1..366 (default 31) whole UTC
  // days up to and including until (a day, RFC 3339 or ms; default today).
  Reply page(SiteStore& store, const Admission& a) {
    int days = 31;
    if (a.query.count("days")) {
      auto n = number(a, "days");
      if (!n || *n < 1 || *n > SiteStore::kMaxPageDays)
        return {error_response(400, "bad_request", "format", "days must be a whole number from 1 to 366"), {}};
      days = static_cast<int>(*n);
    }
    int64_t until = utc_now_ms();
    if (auto it = a.query.find("until"); it != a.query.end() && !it->second.empty()) {
      auto t = parse_time_ms(it->second);
      if (!t || *t < 0) return {error_response(400, "bad_request", "format", "until must be a UTC day, RFC 3339 or ms"), {}};
      until = *t;
    }
    auto facts = store.page(days, until);
    if (!facts) return {refusal(facts.error()), {}};
    facts->bundles = bundle_signer.has_value();
    return {html_response(render_site_page(*facts)), {}};
  }

  Reply checkpoints(SiteStore& store, const Admission& a) {
    bool given_min = a.query.count("min_size") > 0, given_max = a.query.count("max_size") > 0;
    auto min = number(a, "min_size"), max = number(a, "max_size");
    if ((given_min && !min) || (given_max && !max))
      return {error_response(400, "bad_request", "format", "min_size and max_size must be whole numbers"), {}};
    uint64_t lo = min.value_or(0), hi = max.value_or(UINT64_MAX >> 1);
    if (lo > hi) return {error_response(400, "bad_request", "format", "min_size is above max_size"), {}};
    return {answer(store.checkpoints(lo, hi)), {}};
  }
};

Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() = default;

size_t Api::site_count() const {
  std::shared_lock lock(impl_->roster_mutex);
  return impl_->sites.size();
}

Response Api::error_response(int status, std::string error, std::string check, std::string message) {
  return Impl::refusal(Refusal{status, std::move(error), std::move(check), std::move(message), {}, {}});
}

Result<std::unique_ptr<Api>> Api::create(const RegistryConfig& config, VerifyPool& pool) {
  if (auto r = check_registry_files(config); !r) return tl::unexpected(r.error());
  StoreLimits limits{config.max_body_bytes, config.max_batch_records, 2 * uint64_t{config.max_batch_records}};
  auto impl = std::make_unique<Impl>(config, limits, pool);
  auto hashed = [](Credential c) -> Result<Credential> {
    if (c.token_file.empty()) return c;
    auto token = read_secret_file(c.token_file, S_IRWXO);
    if (!token) return tl::unexpected(token.error());
    c.token_sha256 = to_hex(sha256(*token));
    return c;
  };
  Roster& roster = impl->roster;
  for (const auto& s : config.sites) {
    auto c = hashed(s.credential);
    if (!c) return tl::unexpected(c.error());
    RosterSite& entry = roster.sites[s.id];
    entry.credential = std::move(*c);
    entry.checkpoint_only = s.checkpoint_only;
    entry.from_config = true;
  }
  for (const auto& r : config.readers) {
    auto c = hashed(r.credential);
    if (!c) return tl::unexpected(c.error());
    roster.readers[r.name] = RosterReader{std::move(*c), true, false};
  }
  for (const auto& r : config.admins) {
    auto c = hashed(r.credential);
    if (!c) return tl::unexpected(c.error());
    impl->admins.push_back({r.name, std::move(*c)});
  }
  if (!config.bundle_key_file.empty()) {
    auto signer = Signer::load(config.bundle_key_file);
    if (!signer) return tl::unexpected(signer.error());
    impl->bundle_signer.emplace(std::move(*signer));
  }
  if (!config.cosign_key_file.empty()) {
    auto cosigner = Cosigner::load(config.cosign_key_file, config.cosigner_name);
    if (!cosigner) return tl::unexpected(cosigner.error());
    impl->cosigner.emplace(std::move(*cosigner));
  }
  if (!config.tpm_ca_file.empty()) {
    auto pem = read_tpm_ca(config.tpm_ca_file);
    if (!pem) return tl::unexpected(pem.error());
    impl->tpm_ca_pem = std::move(*pem);
  }
  // The admins' actions, replayed over the config. One the config now contradicts (a site
  // since written into registry.toml) is skipped with a warning: the config wins.
  std::error_code ec;
  std::filesystem::create_directories(config.data_dir, ec);
  auto replay = [&](uint64_t seq, const nlohmann::json& entry) -> Result<void> {
    auto action = parse_admin_action(entry.dump());
    if (!action) return fail(ErrorCode::corruption, "", action.error().message);
    if (auto allowed = check_admin_action(roster, *action); !allowed) {
      log::warning("registry: audit seq " + std::to_string(seq) + " (" + action->verb + ") is not applied: " +
                   allowed.error().message);
      return {};
    }
    apply_admin_action(roster, *action);
    return {};
  };
  auto audit = config.database_url.empty() ? AuditLog::open_sqlite(config.data_dir / "audit.db", replay)
                                           : AuditLog::open_postgres(config.database_url, replay);
  if (!audit) return tl::unexpected(audit.error());
  impl->audit = std::move(*audit);
  std::map<std::string, std::vector<PublicKey>> config_pins;  // keys = [...] of the config's sites
  for (const auto& s : config.sites)
    for (const auto& f : s.keys) {
      auto key = PublicKey::load(f);
      if (!key) return tl::unexpected(key.error());
      config_pins[s.id].push_back(std::move(*key));
    }
  for (const auto& [id, entry] : roster.sites) impl->place_store(id, impl->open_store(id, entry, std::move(config_pins[id])));
  impl->principals.rebuild(roster, impl->admins);
  if (!config.database_url.empty())
    impl->follower.emplace(std::chrono::seconds(1), [raw = impl.get()] { raw->follow_audit_log(); });
  return std::unique_ptr<Api>(new Api(std::move(impl)));
}

Admission Api::admit(const RequestHeader& req, const std::optional<PeerCertificate>& cert) const {
  Admission a;
  auto refuse = [&](int status, std::string error, std::string check, std::string message) -> Admission& {
    a.refusal = error_response(status, std::move(error), std::move(check), std::move(message));
    return a;
  };
  std::shared_lock lock(impl_->roster_mutex);
  Principal who = impl_->authenticate(req, cert);
  if (who.kind == Principal::Kind::none) {
    refuse(401, "unauthenticated", "auth", "no known credential (a bearer token or a client certificate)");
    // A browser asks for a name and password on this; the token is the password.
    a.refusal->set(http::field::www_authenticate, "Basic realm=\"mrv-registry\", charset=\"UTF-8\"");
    return a;
  }
  a.authenticated = true;
  const char* kind = who.kind == Principal::Kind::site ? "site" : who.kind == Principal::Kind::reader ? "reader" : "admin";
  if (who.suspended)
    return refuse(403, "suspended", "auth", std::string(kind) + " '" + who.name + "' is suspended by the registry's admins");
  parse_target(sv(req.target()), a);
  bool get = req.method() == http::verb::get || req.method() == http::verb::head;
  // The admins' endpoints and the audit log (docs/registry-api.md §8); an admin may use nothing else.
  bool admin_path = a.path.size() == 3 && a.path[0] == "v1" && a.path[1] == "admin";
  bool audit_path = a.path.size() == 2 && a.path[0] == "v1" && a.path[1] == "audit";
  if (who.kind == Principal::Kind::admin || admin_path || audit_path) {
    if (audit_path && who.kind == Principal::Kind::site)
      return refuse(403, "forbidden", "auth", "the audit log is for readers and admins, not sites");
    if (admin_path && who.kind != Principal::Kind::admin)
      return refuse(403, "forbidden", "auth", std::string(kind) + " '" + who.name + "' is not an admin");
    if (audit_path && get) {
      a.endpoint = Endpoint::audit;
    } else if (admin_path && a.path[2] == "roster" && get) {
      a.endpoint = Endpoint::roster;
    } else if (admin_path && a.path[2] == "actions" && req.method() == http::verb::post) {
      a.endpoint = Endpoint::admin_action;
      auto type = sv(req[http::field::content_type]);
      if (type.substr(0, type.find(';')) != "application/json")
        return refuse(415, "unsupported_media_type", "format", "Content-Type must be application/json");
      a.body_limit = kMaxAdminActionBytes;
      a.actor = who.name;
    } else {
      return refuse(who.kind == Principal::Kind::admin ? 403 : 404, who.kind == Principal::Kind::admin ? "forbidden" : "not_found",
                    "auth", "no such resource for " + std::string(kind) + " '" + who.name + "': " +
                                std::string(sv(req.method_string())) + " " + std::string(sv(req.target())));
    }
    return a;
  }
  if (a.path.size() == 2 && a.path[0] == "v1" && a.path[1] == "sites" && get) {
    a.endpoint = Endpoint::sites;
    a.principal_site = who.kind == Principal::Kind::site ? who.name : "";
    return a;
  }
  if (a.path.size() < 3 || a.path[0] != "v1" || a.path[1] != "sites")
    return refuse(404, "not_found", "format", "no such resource: " + std::string(sv(req.target())));
  const std::string& site = a.path[2];
  if (who.kind == Principal::Kind::site && who.name != site)
    return refuse(403, "forbidden", "auth", "the credential of site '" + who.name + "' may not use site '" + site + "'");
  auto it = impl_->sites.find(site);
  if (it == impl_->sites.end()) return refuse(404, "unknown_site", "auth", "no site '" + site + "' on this registry");
  auto endpoint = endpoint_of(req.method(), a.path);
  if (!endpoint) {
    bool known_method = req.method() == http::verb::get || req.method() == http::verb::head ||
                        req.method() == http::verb::put || req.method() == http::verb::post;
    return refuse(known_method ? 404 : 405, known_method ? "not_found" : "method_not_allowed", "format",
                  "no such resource: " + std::string(sv(req.method_string())) + " " + std::string(sv(req.target())));
  }
  a.endpoint = *endpoint;
  const char* media_type = media_type_of(a.endpoint);
  if (media_type && who.kind != Principal::Kind::site)
    return refuse(403, "forbidden", "auth", "reader '" + who.name + "' may not write");
  if (!it->second.store)
    return refuse(503, "unavailable", "storage", "site '" + site + "' is held back: " + it->second.unavailable);
  a.store = it->second.store.get();
  if (media_type) {
    auto type = sv(req[http::field::content_type]);
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (type != media_type)
      return refuse(415, "unsupported_media_type", "format", "Content-Type must be " + std::string(media_type));
    if (a.endpoint == Endpoint::post_records) {
      auto encoding = sv(req[http::field::content_encoding]);
      if (!encoding.empty() && encoding != "gzip" && encoding != "identity")
        return refuse(415, "unsupported_media_type", "format", "Content-Encoding must be gzip or identity");
    }
    a.body_limit = impl_->config.max_body_bytes;
    if (a.endpoint == Endpoint::post_tpm_statement || a.endpoint == Endpoint::post_tpm_activation)
      a.body_limit = std::min<size_t>(a.body_limit, kMaxTpmBody);
  }
  return a;
}

Reply Api::execute(const Admission& a, const RequestHeader& req, const std::string& body) {
  if (a.endpoint == Endpoint::sites) return impl_->site_index(a.principal_site);
  if (a.endpoint == Endpoint::admin_action) return impl_->admin_action(a.actor, body);
  if (a.endpoint == Endpoint::roster) return impl_->roster_view();
  if (a.endpoint == Endpoint::audit) return impl_->audit_lines(a);
  SiteStore& store = *a.store;
  auto answer = [](const Answer<std::string>& r, const std::string& type = "application/json") {
    return Reply{Impl::answer(r, type), {}};
  };
  switch (a.endpoint) {
    case Endpoint::put_key: return answer(store.register_key(body));
    case Endpoint::put_config: return answer(store.add_config(a.path[4], body));
    case Endpoint::post_records:
      return answer(store.post_records(body, sv(req[http::field::content_encoding]) == "gzip"));
    case Endpoint::post_checkpoint: return answer(store.post_checkpoint(body));
    case Endpoint::post_report: return answer(store.post_report(body));
    case Endpoint::post_tpm_statement: return answer(store.tpm_challenge(a.path[4], body, impl_->tpm_ca_pem));
    case Endpoint::post_tpm_activation: return answer(store.tpm_activate(a.path[4], body));
    case Endpoint::summary: return answer(store.summary());
    case Endpoint::keys: return answer(store.keys());
    case Endpoint::records: return impl_->records(store, a);
    case Endpoint::checkpoints: return impl_->checkpoints(store, a);
    case Endpoint::reports: return answer(store.reports());
    case Endpoint::report: return answer(store.report(a.path[4]));
    case Endpoint::bundle: return impl_->bundle(store, a);
    case Endpoint::page: return impl_->page(store, a);
    case Endpoint::sites: case Endpoint::admin_action: case Endpoint::roster: case Endpoint::audit: break;
  }
  return {error_response(500, "internal", "format", "unrouted request"), {}};
}

}  // namespace mrv::registry
