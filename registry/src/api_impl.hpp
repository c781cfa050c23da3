#pragma once
// Api's state and handlers, shared by api.cpp (start-up, admission, dispatch, the sites'
// stores), api_admin.cpp (enrollment and the audit log) and api_reads.cpp (what readers
// fetch: records, checkpoints, pages, bundles).
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "api.hpp"
#include "audit_log.hpp"
#include "mrv/registry/cosigner.hpp"
#include "mrv/registry/enrollment.hpp"
#include "mrv/registry/site_store.hpp"
#include "periodic.hpp"
#include "principals.hpp"
#include "site_write_log.hpp"

namespace mrv::registry {

inline std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

inline std::optional<uint64_t> query_number(const Admission& a, const std::string& key) {
  auto it = a.query.find(key);
  if (it == a.query.end() || it->second.empty() || it->second.size() > 19 ||
      it->second.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoull(it->second);
}

// An audit entry's action to put in force again (at start, or from another process), or
// nullopt when the roster now refuses it (a site since written into registry.toml under
// that id: the config wins), which is logged with its seq.
Result<std::optional<AdminAction>> replayable_action(const Roster& roster, uint64_t seq, const nlohmann::json& entry);

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
  // Who may do what: read by every request (shared), changed (exclusive) only by holders
  // of admin_mutex, and only in memory.
  mutable std::shared_mutex roster_mutex;
  // Admin actions and catch-ups, one at a time: the roster's only writers, and the audit
  // log's. Its I/O (the database) is done under this mutex alone, so a slow or hung
  // database holds up admin actions, never uploads and reads.
  mutable std::mutex admin_mutex;
  Roster roster;
  Principals principals;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<SiteWriteLog> site_log;  // [database]: the sites' writes; outlives the stores
  std::map<std::string, SiteSlot, std::less<>> sites;
  std::optional<Signer> bundle_signer;  // signs the manifests of bundles (not thread-safe)
  std::optional<Cosigner> cosigner;     // cosigns the checkpoints accepted ([cosign])
  std::string tpm_ca_pem;               // [tpm] ca_file: TPM manufacturers' CAs ("": no activations)
  std::mutex bundle_mutex;
  std::atomic<uint64_t> bundle_count{0};
  bool following = true;              // the follower's last look at the audit log worked
  bool following_sites = true;        // the sites' follower's last look at the database worked
  std::optional<Periodic> follower;   // last: stopped before the members it uses go
  std::optional<Periodic> site_follower;

  // With a shared database: what other registry processes appended to the sites is put
  // in force here within a fraction of a second (reads answer from this copy).
  void follow_sites();

  Impl(const RegistryConfig& c, StoreLimits l, VerifyPool& p) : config(c), limits(l), pool(p) {}

  Principal authenticate(const RequestHeader& req, const std::optional<PeerCertificate>& cert) const;

  // A site's store, with the config's pinned key files (none for an enrolled site) and
  // the roster's pins and revocations.
  Result<std::unique_ptr<SiteStore>> open_store(const std::string& id, const RosterSite& entry,
                                                std::vector<PublicKey> pinned);

  // Into the site's slot: the store, or why it could not be opened (its requests are then
  // answered 503).
  void place_store(const std::string& id, Result<std::unique_ptr<SiteStore>> store);

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
  Reply admin_action(const std::string& actor, const std::string& body);

  // An allowed action, once in the audit log, into the roster, the principals and the
  // site's store. With admin_mutex held; takes roster_mutex.
  void put_in_force(const AdminAction& action, Result<std::unique_ptr<SiteStore>> opened);

  // Puts in force the audit entries this process has not applied yet: appended by another
  // registry process on the same database, or committed although this one was told the
  // commit failed (a database failover). With admin_mutex held.
  Result<void> catch_up();

  // With a shared database ([database]): what other registry processes append is put in
  // force here within a second, so a suspension or revocation through one holds on all.
  void follow_audit_log();

  // The audit log could not be read or written: 503 while the database is away, else 500.
  static Response audit_failure(const Error& e);

  // GET /v1/admin/roster: who may do what now, from the config and the audit log.
  Reply roster_view() const;

  // GET /v1/audit?from_seq=N: the audit log's lines (NDJSON), at most kMaxAuditLines.
  Reply audit_lines(const Admission& a) const;

  // GET /v1/audit/head: the newest entry's seq and hash in a note cosigned with the
  // [cosign] key (docs/registry-api.md §8.2), so a reader can show what the registry said.
  Reply audit_head();

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
  Reply bundle(SiteStore& store, const Admission& a);

  Reply records(SiteStore& store, const Admission& a);

  // The sites a credential may read, each linked to its page: all for a reader, its own
  // for a site (principal_site).
  Reply site_index(const std::string& principal_site);

  // No script, nothing from elsewhere, not framed: a hostile site id stays text.
  static Response html_response(std::string body);

  // The verifiers' page (docs/registry-api.md §4.1): days=1..366 (default 31) whole UTC
  // days up to and including until (a day, RFC 3339 or ms; default today).
  Reply page(SiteStore& store, const Admission& a);

  Reply checkpoints(SiteStore& store, const Admission& a);
};

}  // namespace mrv::registry
