// The admins' endpoints (docs/registry-api.md §8): actions checked, appended to the audit
// log and put in force; the roster; the log itself, followed when processes share it.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "api_impl.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"

namespace mrv::registry {

namespace {
constexpr size_t kMaxAuditLines = 10'000;  // per GET /v1/audit
}  // namespace

Result<std::optional<AdminAction>> replayable_action(const Roster& roster, uint64_t seq, const nlohmann::json& entry) {
  auto action = parse_admin_action(entry.dump());
  if (!action) return fail(ErrorCode::corruption, "", action.error().message);
  if (auto allowed = check_admin_action(roster, *action); !allowed) {
    log::warning("registry: audit seq " + std::to_string(seq) + " (" + action->verb + ") is not applied: " +
                 allowed.error().message);
    return std::nullopt;
  }
  return std::move(*action);
}

Reply Api::Impl::admin_action(const std::string& actor, const std::string& body) {
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
  std::lock_guard admin(admin_mutex);  // the roster is read below without roster_mutex: no one else writes it
  // Another registry process on the same database may have appended meanwhile: the
  // action is checked against every entry stored, and again if its seq was taken.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (auto caught = catch_up(); !caught) return {audit_failure(caught.error()), {}};
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
    log::notice("registry: admin '" + actor + "': " + **line);
    return {json_response(200, **line + "\n"), {}};
  }
  return {error_response(503, "unavailable", "storage", "the audit log's next seq was taken three times in a row "
                                                        "by other registry processes; try again"), {}};
}

void Api::Impl::put_in_force(const AdminAction& action, Result<std::unique_ptr<SiteStore>> opened) {
  SiteStore* store = nullptr;  // slots are never erased: the pointer outlives the lock
  {
    std::unique_lock lock(roster_mutex);
    apply_admin_action(roster, action);
    principals.rebuild(roster, admins);
    if (action.verb == "add_site") place_store(action.site, std::move(opened));
    else if (auto it = sites.find(action.site); it != sites.end()) store = it->second.store.get();
  }
  // The store's own lock is held through an upload's commit: not taken under roster_mutex.
  if (!store) return;
  if (action.verb == "pin_key" || action.verb == "rotate_key") store->pin_key(*PublicKey::from_pem(action.keys.front()));
  if (action.verb == "revoke_key" || action.verb == "rotate_key") store->revoke_key(action.key_id, action.from_seq);
}

Result<void> Api::Impl::catch_up() {
  auto taken = audit->catch_up([&](uint64_t seq, const nlohmann::json& entry) -> Result<void> {
    auto replayable = replayable_action(roster, seq, entry);
    if (!replayable) return tl::unexpected(replayable.error());
    if (!*replayable) return {};
    const AdminAction& action = **replayable;
    Result<std::unique_ptr<SiteStore>> opened = fail(ErrorCode::storage, action.site, "not opened");
    if (action.verb == "add_site") opened = open_store(action.site, roster_site_of(action), {});
    put_in_force(action, std::move(opened));
    log::notice("registry: audit seq " + std::to_string(seq) + " (" + action.verb + ") put in force from the log");
    return {};
  });
  if (!taken) return tl::unexpected(taken.error());
  return {};
}

void Api::Impl::follow_audit_log() {
  std::lock_guard admin(admin_mutex);
  auto caught = catch_up();
  if (!caught && following) log::warning("registry: cannot follow the audit log: " + caught.error().to_string());
  if (caught && !following) log::notice("registry: following the audit log again");
  following = bool(caught);
}

Response Api::Impl::audit_failure(const Error& e) {
  if (e.code == ErrorCode::busy) return error_response(503, "unavailable", "storage", e.to_string());
  return error_response(500, "storage", "storage", e.to_string());
}

Reply Api::Impl::roster_view() const {
  nlohmann::json sites_json = nlohmann::json::array(), readers_json = nlohmann::json::array();
  std::lock_guard admin(admin_mutex);  // the roster's writers, and the audit log's seq
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

Reply Api::Impl::audit_lines(const Admission& a) const {
  bool given = a.query.count("from_seq") > 0;
  auto from = query_number(a, "from_seq");
  if (given && !from) return {error_response(400, "bad_request", "format", "from_seq must be a whole number"), {}};
  auto text = audit->lines(from.value_or(1), kMaxAuditLines);  // each engine reads on its own
  if (!text) return {audit_failure(text.error()), {}};
  return {json_response(200, std::move(*text), "application/x-ndjson"), {}};
}

Reply Api::Impl::audit_head() {
  if (!cosigner)
    return {error_response(404, "not_found", "format", "this registry cosigns nothing (no [cosign] key_file)"), {}};
  std::string note;
  {
    std::lock_guard admin(admin_mutex);  // where appends move the head
    auto hash = from_hex(audit->last_hash_hex());
    note = cosigner->name() + "/audit\n" + std::to_string(audit->last_seq()) + "\n" + to_base64(*hash) + "\n";
  }
  auto line = cosigner->cosign(note, static_cast<uint64_t>(std::max<int64_t>(0, utc_now_ms() / 1000)));
  if (!line) return {error_response(500, "crypto", "crypto", line.error().to_string()), {}};
  return {json_response(200, note + "\n" + *line + "\n", "text/plain; charset=utf-8"), {}};
}

}  // namespace mrv::registry
