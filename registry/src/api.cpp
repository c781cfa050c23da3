// The registry's HTTP API (docs/registry-api.md): start-up, admission on a request's
// headers, dispatch to the handlers, and the sites' stores.
#include "api_impl.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "mrv/core/log.hpp"
#include "mrv/core/secret_file.hpp"

namespace mrv::registry {

namespace {

constexpr size_t kMaxTpmBody = 32 * 1024;  // a TPM key statement (16 KiB of JSON) or its activation

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

Principal Api::Impl::authenticate(const RequestHeader& req, const std::optional<PeerCertificate>& cert) const {
  std::optional<std::string> token_sha256;
  auto auth = sv(req[http::field::authorization]);
  if (auth.starts_with("Bearer ")) token_sha256 = to_hex(sha256(auth.substr(7)));
  if (auth.starts_with("Basic ")) token_sha256 = to_hex(sha256(basic_password(auth.substr(6))));
  return principals.find(token_sha256, cert);
}

Result<std::unique_ptr<SiteStore>> Api::Impl::open_store(const std::string& id, const RosterSite& entry,
                                              std::vector<PublicKey> pinned) {
  for (const auto& pem : entry.pinned_pems) pinned.push_back(*PublicKey::from_pem(pem));  // checked when enrolled
  SiteOptions options{std::move(pinned), entry.checkpoint_only, limits, cosigner ? &*cosigner : nullptr,
                      site_log.get()};
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

void Api::Impl::place_store(const std::string& id, Result<std::unique_ptr<SiteStore>> store) {
  SiteSlot& slot = sites[id];
  if (store) {
    slot.store = std::move(*store);
    return;
  }
  slot.unavailable = store.error().to_string();
  log::error("registry: site '" + id + "' is held back, its store cannot be opened: " + slot.unavailable);
}


Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() = default;

void Api::Impl::follow_sites() {
  auto heads = site_log->heads();
  if (!heads && following_sites) log::warning("registry: cannot follow the sites' writes: " + heads.error().to_string());
  if (heads && !following_sites) log::notice("registry: following the sites' writes again");
  following_sites = bool(heads);
  if (!heads) return;
  std::vector<std::pair<SiteStore*, uint64_t>> behind;
  {
    std::shared_lock lock(roster_mutex);
    for (const auto& [id, n] : *heads)
      if (auto it = sites.find(id); it != sites.end() && it->second.store) behind.emplace_back(it->second.store.get(), n);
  }
  // Noted, not followed: a site is put in force here when this process serves it (a
  // read, or a write's catch-up), so sites whose agents upload elsewhere cost nothing.
  for (auto [store, n] : behind) store->note_head(n);
}

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
    auto action = replayable_action(roster, seq, entry);
    if (!action) return tl::unexpected(action.error());
    if (*action) apply_admin_action(roster, **action);
    return {};
  };
  auto audit = config.database_url.empty() ? AuditLog::open_sqlite(config.data_dir / "audit.db", replay)
                                           : AuditLog::open_postgres(config.database_url, replay);
  if (!audit) return tl::unexpected(audit.error());
  impl->audit = std::move(*audit);
  if (!config.database_url.empty()) {
    // A connection per request thread at most (each request holds one while it runs).
    unsigned threads = config.request_threads > 0 ? static_cast<unsigned>(config.request_threads)
                                                  : std::max(2u, std::thread::hardware_concurrency());
    auto site_log = SiteWriteLog::open(config.database_url, threads);
    if (!site_log) return tl::unexpected(site_log.error());
    impl->site_log = std::move(*site_log);
  }
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
  if (impl->site_log) {
    impl->follow_sites();  // before the first request: a new process serves what the others took
    impl->site_follower.emplace(std::chrono::milliseconds(200), [raw = impl.get()] { raw->follow_sites(); });
  }
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
  bool audit_path = (a.path.size() == 2 || (a.path.size() == 3 && a.path[2] == "head")) && a.path[0] == "v1" &&
                    a.path[1] == "audit";
  if (who.kind == Principal::Kind::admin || admin_path || audit_path) {
    if (audit_path && who.kind == Principal::Kind::site)
      return refuse(403, "forbidden", "auth", "the audit log is for readers and admins, not sites");
    if (admin_path && who.kind != Principal::Kind::admin)
      return refuse(403, "forbidden", "auth", std::string(kind) + " '" + who.name + "' is not an admin");
    if (audit_path && get) {
      a.endpoint = a.path.size() == 3 ? Endpoint::audit_head : Endpoint::audit;
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
  if (a.endpoint == Endpoint::audit_head) return impl_->audit_head();
  SiteStore& store = *a.store;
  if (!media_type_of(a.endpoint)) store.follow_noted();  // a read (a write catches up under the site's lock)
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
    case Endpoint::sites: case Endpoint::admin_action: case Endpoint::roster: case Endpoint::audit:
    case Endpoint::audit_head: break;
  }
  return {error_response(500, "internal", "format", "unrouted request"), {}};
}

}  // namespace mrv::registry
