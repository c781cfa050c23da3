#pragma once
// Who may use the registry, changed at run time by its admins (docs/registry-api.md §8):
// the roster of sites and readers, each from registry.toml or enrolled, and the actions
// that change it. Logic only: the audit log (audit_log.hpp) keeps every action, and the
// roster is the config's entries with the log's actions replayed over them.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mrv/registry/registry_config.hpp"
#include "mrv/registry/site_store.hpp"

namespace mrv::registry {

struct RosterSite {
  Credential credential;
  bool checkpoint_only = false;
  bool from_config = false;  // its entry is registry.toml's: it cannot be removed at run time
  bool suspended = false;
  // Removed: its credential is void and it takes no more writes, but its records stay
  // readable and its id is never enrolled again (so no second history under one id).
  bool removed = false;
  std::vector<std::string> pinned_pems;         // pinned at run time (the config's are files)
  std::map<std::string, uint64_t> revoked_from;  // key id -> the first seq it may not sign
};

struct RosterReader {
  Credential credential;
  bool from_config = false;
  bool suspended = false;
};

struct Roster {
  std::map<std::string, RosterSite, std::less<>> sites;
  std::map<std::string, RosterReader, std::less<>> readers;
};

// One admin action (the body of POST /v1/admin/actions). Exactly one of site and reader
// names its subject; the other members are the verb's.
struct AdminAction {
  std::string verb;  // add_site, add_reader, set_credential, suspend, resume, remove, pin_key, revoke_key, rotate_key
  std::string site, reader;
  Credential credential;            // add_site, add_reader, set_credential (token_sha256 or a certificate)
  bool checkpoint_only = false;     // add_site
  std::vector<std::string> keys;    // add_site: keys to pin (PEM); pin_key, rotate_key: the one
  std::string key_id;               // revoke_key, rotate_key: the key no longer accepted
  uint64_t from_seq = 0;            //   from this seq on
  std::string reason;               // revoke_key, rotate_key (optional)

  // What the audit log keeps: the members the verb takes, nothing else.
  nlohmann::json to_json() const;
};

constexpr size_t kMaxAdminActionBytes = 64 * 1024;
constexpr size_t kMaxReasonBytes = 1024;

// Parses and checks the action's own form: a refusal (400) names the member.
Answer<AdminAction> parse_admin_action(std::string_view json_text);
// Whether the roster allows it now: 404 for an unknown subject, 409 for a conflict.
Answer<void> check_admin_action(const Roster& roster, const AdminAction& action);
// Applies an action check_admin_action allowed.
void apply_admin_action(Roster& roster, const AdminAction& action);

}  // namespace mrv::registry
