#include "mrv/registry/enrollment.hpp"

#include <algorithm>
#include <set>

#include "config_reader.hpp"  // is_valid_id: site ids and names follow the config's rule
#include "mrv/core/crypto.hpp"
#include "mrv/core/text_limits.hpp"

namespace mrv::registry {

using json = nlohmann::json;

namespace {

tl::unexpected<Refusal> refuse(int status, std::string error, std::string message) {
  return tl::unexpected(Refusal{status, std::move(error), "admin", std::move(message), {}, {}});
}
tl::unexpected<Refusal> malformed(std::string message) { return refuse(400, "malformed", std::move(message)); }

bool is_hex64(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

struct VerbRule {
  const char* verb;
  std::set<std::string> members;  // besides "action" and the subject ("site" or "reader")
  bool site, reader;              // which subjects it takes
};

const std::vector<VerbRule>& verb_rules() {
  static const std::set<std::string> credential = {"token_sha256", "client_cert_cn", "client_cert_sha256"};
  auto with = [](std::set<std::string> a, std::initializer_list<std::string> more) {
    a.insert(more);
    return a;
  };
  static const std::vector<VerbRule> rules = {
      {"add_site", with(credential, {"checkpoint_only", "keys"}), true, false},
      {"add_reader", credential, false, true},
      {"set_credential", credential, true, true},
      {"suspend", {}, true, true},
      {"resume", {}, true, true},
      {"remove", {}, true, true},
      {"pin_key", {"public_key_pem"}, true, false},
      {"revoke_key", {"key_id", "from_seq", "reason"}, true, false},
      {"rotate_key", {"key_id", "from_seq", "reason", "public_key_pem"}, true, false},
  };
  return rules;
}

Answer<std::string> string_member(const json& j, const char* name, size_t max_bytes) {
  const json& v = j.at(name);
  if (!v.is_string()) return malformed(std::string(name) + " must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > max_bytes) return malformed(std::string(name) + " is longer than " + std::to_string(max_bytes) + " bytes");
  return s;
}

Answer<std::string> public_key_member(const std::string& pem, const std::string& where) {
  auto key = PublicKey::from_pem(pem);
  if (!key) return malformed(where + " is not an Ed25519 or ECDSA P-256 public key in PEM: " + key.error().message);
  return key->pem();
}

Answer<void> read_credential(const json& j, Credential& c) {
  for (auto [name, field] : {std::pair{"token_sha256", &c.token_sha256}, std::pair{"client_cert_cn", &c.client_cert_cn},
                             std::pair{"client_cert_sha256", &c.client_cert_sha256}}) {
    if (!j.contains(name)) continue;
    auto s = string_member(j, name, 256);
    if (!s) return tl::unexpected(s.error());
    *field = std::move(*s);
  }
  for (const auto* hex : {&c.token_sha256, &c.client_cert_sha256})
    if (!hex->empty() && !is_hex64(*hex)) return malformed("token_sha256 and client_cert_sha256 must be 64 lower-case hex digits");
  if (c.token_sha256 == kEmptyTokenSha256)
    return malformed("token_sha256 is the hash of an empty token");
  if (c.token_sha256.empty() && c.client_cert_cn.empty() && c.client_cert_sha256.empty())
    return malformed("needs a credential: token_sha256, client_cert_cn or client_cert_sha256");
  return {};
}

bool same_credential(const Credential& a, const Credential& b) {
  return (!a.token_sha256.empty() && a.token_sha256 == b.token_sha256) ||
         (!a.client_cert_cn.empty() && a.client_cert_cn == b.client_cert_cn) ||
         (!a.client_cert_sha256.empty() && a.client_cert_sha256 == b.client_cert_sha256);
}

}  // namespace

json AdminAction::to_json() const {
  json j = {{"action", verb}};
  if (!site.empty()) j["site"] = site;
  if (!reader.empty()) j["reader"] = reader;
  for (auto [name, value] : {std::pair{"token_sha256", &credential.token_sha256},
                             std::pair{"client_cert_cn", &credential.client_cert_cn},
                             std::pair{"client_cert_sha256", &credential.client_cert_sha256}})
    if (!value->empty()) j[name] = *value;
  if (verb == "add_site") {
    j["checkpoint_only"] = checkpoint_only;
    j["keys"] = keys;
  }
  if ((verb == "pin_key" || verb == "rotate_key") && !keys.empty()) j["public_key_pem"] = keys.front();
  if (verb == "revoke_key" || verb == "rotate_key") {
    j["key_id"] = key_id;
    j["from_seq"] = from_seq;
    if (!reason.empty()) j["reason"] = reason;
  }
  return j;
}

Answer<AdminAction> parse_admin_action(std::string_view text) {
  if (text.size() > kMaxAdminActionBytes)
    return malformed("an action is at most " + std::to_string(kMaxAdminActionBytes) + " bytes");
  if (auto limits = check_json_limits(text, 4, 1000); !limits) return malformed(limits.error().to_string());
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return malformed("not a JSON object");
  if (!j.contains("action") || !j["action"].is_string()) return malformed("action must name the verb");
  AdminAction a;
  a.verb = j["action"].get<std::string>();
  const auto& rules = verb_rules();
  auto rule = std::find_if(rules.begin(), rules.end(), [&](const VerbRule& r) { return a.verb == r.verb; });
  if (rule == rules.end()) return malformed("no action '" + a.verb + "'");
  for (const auto& [name, value] : j.items())
    if (name != "action" && name != "site" && name != "reader" && !rule->members.count(name))
      return malformed("action " + a.verb + " takes no member '" + name + "'");
  bool site = j.contains("site"), reader = j.contains("reader");
  if (site == reader || (site && !rule->site) || (reader && !rule->reader))
    return malformed(std::string("action ") + a.verb + " names its subject with " +
                     (rule->site && rule->reader ? "either site or reader" : rule->site ? "site" : "reader"));
  auto subject = string_member(j, site ? "site" : "reader", 128);
  if (!subject) return tl::unexpected(subject.error());
  if (!is_valid_id(*subject)) return malformed(std::string(site ? "site" : "reader") + " may hold only A-Z a-z 0-9 . _ : / -");
  (site ? a.site : a.reader) = std::move(*subject);

  if (a.verb == "add_site" || a.verb == "add_reader" || a.verb == "set_credential")
    if (auto c = read_credential(j, a.credential); !c) return tl::unexpected(c.error());
  if (j.contains("checkpoint_only")) {
    if (!j["checkpoint_only"].is_boolean()) return malformed("checkpoint_only must be true or false");
    a.checkpoint_only = j["checkpoint_only"].get<bool>();
  }
  if (j.contains("keys")) {
    if (!j["keys"].is_array() || j["keys"].size() > 16) return malformed("keys must be an array of at most 16 PEM public keys");
    for (size_t i = 0; i < j["keys"].size(); ++i) {
      const json& k = j["keys"][i];
      if (!k.is_string()) return malformed("keys[" + std::to_string(i) + "] must be a string");
      auto pem = public_key_member(k.get<std::string>(), "keys[" + std::to_string(i) + "]");
      if (!pem) return tl::unexpected(pem.error());
      a.keys.push_back(std::move(*pem));
    }
  }
  bool needs_key = a.verb == "pin_key" || a.verb == "rotate_key";
  if (needs_key != j.contains("public_key_pem")) return malformed("public_key_pem is " + std::string(needs_key ? "required" : "not taken"));
  if (needs_key) {
    auto text = string_member(j, "public_key_pem", 4096);
    if (!text) return tl::unexpected(text.error());
    auto pem = public_key_member(*text, "public_key_pem");
    if (!pem) return tl::unexpected(pem.error());
    a.keys.push_back(std::move(*pem));
  }
  if (a.verb == "revoke_key" || a.verb == "rotate_key") {
    if (!j.contains("key_id") || !j["key_id"].is_string() || !is_hex64(j["key_id"].get<std::string>()))
      return malformed("key_id must be the key's id: 64 lower-case hex digits");
    a.key_id = j["key_id"].get<std::string>();
    if (!j.contains("from_seq") || !j["from_seq"].is_number_unsigned() || j["from_seq"].get<uint64_t>() < 1 ||
        j["from_seq"].get<uint64_t>() > uint64_t{INT64_MAX})
      return malformed("from_seq must be a whole number from 1: the first seq the key may not sign");
    a.from_seq = j["from_seq"].get<uint64_t>();
    if (j.contains("reason")) {
      auto reason = string_member(j, "reason", kMaxReasonBytes);
      if (!reason) return tl::unexpected(reason.error());
      a.reason = std::move(*reason);
    }
  }
  return a;
}

Answer<void> check_admin_action(const Roster& roster, const AdminAction& a) {
  if (a.verb == "add_site" || a.verb == "add_reader") {
    bool taken = a.verb == "add_site" ? roster.sites.count(a.site) > 0 : roster.readers.count(a.reader) > 0;
    if (taken && a.verb == "add_site" && roster.sites.at(a.site).removed)
      return refuse(409, "conflict", "site '" + a.site + "' was removed: its records keep its id, which is not enrolled again");
    if (taken) return refuse(409, "conflict", (a.site.empty() ? "reader '" + a.reader : "site '" + a.site) + "' exists");
  } else if (!a.site.empty() ? !roster.sites.count(a.site) : !roster.readers.count(a.reader)) {
    return refuse(404, "not_found", !a.site.empty() ? "no site '" + a.site + "'" : "no reader '" + a.reader + "'");
  } else if (!a.site.empty() && roster.sites.at(a.site).removed) {
    return refuse(409, "conflict", "site '" + a.site + "' was removed");
  }
  if (a.verb == "add_site" || a.verb == "add_reader" || a.verb == "set_credential") {
    // A credential names one principal: a shared one would let either act as the other.
    for (const auto& [id, s] : roster.sites)
      if (id != a.site && same_credential(s.credential, a.credential))
        return refuse(409, "conflict", "site '" + id + "' has that credential");
    for (const auto& [name, r] : roster.readers)
      if (name != a.reader && same_credential(r.credential, a.credential))
        return refuse(409, "conflict", "reader '" + name + "' has that credential");
  }
  if (a.verb == "add_site" || a.verb == "add_reader") return {};
  bool from_config = !a.site.empty() ? roster.sites.at(a.site).from_config : roster.readers.at(a.reader).from_config;
  if ((a.verb == "remove" || a.verb == "set_credential") && from_config)
    return refuse(409, "conflict", "its entry is in registry.toml: change it there (and restart)");
  if (a.verb == "suspend" || a.verb == "resume") {
    bool suspended = !a.site.empty() ? roster.sites.at(a.site).suspended : roster.readers.at(a.reader).suspended;
    if (suspended == (a.verb == "suspend")) return refuse(409, "conflict", suspended ? "already suspended" : "not suspended");
  }
  if (a.verb == "pin_key" || a.verb == "rotate_key") {
    const RosterSite& s = roster.sites.at(a.site);
    auto key = PublicKey::from_pem(a.keys.front());
    if (std::find(s.pinned_pems.begin(), s.pinned_pems.end(), a.keys.front()) != s.pinned_pems.end())
      return refuse(409, "conflict", "key " + key->key_id_hex() + " is pinned already");
    if (s.revoked_from.count(key->key_id_hex())) return refuse(409, "conflict", "key " + key->key_id_hex() + " is revoked");
  }
  if (a.verb == "revoke_key" || a.verb == "rotate_key") {
    const RosterSite& s = roster.sites.at(a.site);
    if (auto it = s.revoked_from.find(a.key_id); it != s.revoked_from.end())
      return refuse(409, "conflict", "key " + a.key_id + " is revoked from seq " + std::to_string(it->second) + " already");
    if (a.verb == "rotate_key" && PublicKey::from_pem(a.keys.front())->key_id_hex() == a.key_id)
      return refuse(409, "conflict", "a key cannot replace itself");
  }
  return {};
}

void apply_admin_action(Roster& roster, const AdminAction& a) {
  if (a.verb == "add_site") {
    RosterSite& s = roster.sites[a.site];
    s.credential = a.credential;
    s.checkpoint_only = a.checkpoint_only;
    s.pinned_pems = a.keys;
  } else if (a.verb == "add_reader") {
    roster.readers[a.reader].credential = a.credential;
  } else if (a.verb == "set_credential") {
    (!a.site.empty() ? roster.sites[a.site].credential : roster.readers[a.reader].credential) = a.credential;
  } else if (a.verb == "suspend" || a.verb == "resume") {
    (!a.site.empty() ? roster.sites[a.site].suspended : roster.readers[a.reader].suspended) = a.verb == "suspend";
  } else if (a.verb == "remove") {
    if (!a.site.empty()) roster.sites[a.site].removed = true;
    else roster.readers.erase(a.reader);
  } else {  // pin_key, revoke_key, rotate_key
    RosterSite& s = roster.sites[a.site];
    if (a.verb != "revoke_key") s.pinned_pems.push_back(a.keys.front());
    if (a.verb != "pin_key") s.revoked_from[a.key_id] = a.from_seq;
  }
}

}  // namespace mrv::registry
