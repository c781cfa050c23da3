// A site's keys on the registry: registration (pinned, or trusted on first use), the pins
// and revocations admins make at run time (enrollment.hpp), and the keys' listing.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "mrv/core/clock.hpp"
#include "mrv/registry/site_store.hpp"
#include "store_answers.hpp"
#include "unproven_store.hpp"

namespace mrv::registry {

using json = nlohmann::json;

Answer<std::string> SiteStore::register_key(std::string_view pem) {
  std::lock_guard lock(mutex_);
  return write_locked([&] { return register_key_locked(pem); });
}

Answer<std::string> SiteStore::register_key_locked(std::string_view pem) {
  auto key = PublicKey::from_pem(pem);
  if (!key) return refuse(400, "malformed", "key", "not an Ed25519 or ECDSA P-256 public key in PEM: " + key.error().message);
  const std::string& id = key->key_id_hex();
  json receipt = {{"site", site_id_}, {"key_id", id}, {"algorithm", std::string(to_string(key->algorithm()))}};
  auto same = [&](const PublicKey& p) { return p.key_id_hex() == id; };
  if (std::any_of(keys_.begin(), keys_.end(), same)) return receipt.dump();  // still verifies what it signed before
  if (!replaying_) {  // a replay was allowed when it was accepted
    if (auto from = revoked_from(id))
      return refuse(403, "key_revoked", "key", "key " + id + " is revoked (from seq " + std::to_string(*from) + ")");
    const auto& pinned = options_.pinned;
    if (!pinned.empty() && std::none_of(pinned.begin(), pinned.end(), same))
      return refuse(403, "key_not_allowed", "key", "key " + id + " is not one of the site's pinned keys");
    if (pinned.empty()) {
      // Trust on first use: once the site holds records, a credential alone cannot bring
      // in a key that would sign a history of its own.
      auto pending = unproven_->last();
      if (!pending) return storage_failure(pending.error());
      if (journal_.last_seq() > 0 || *pending)
        return refuse(403, "key_not_allowed", "key",
                      "site '" + site_id_ + "' holds records: a new key (" + id +
                          ") must be pinned first (keys = [...] in the registry's config, or mrv-registry enroll pin-key)");
    }
  }
  if (auto r = log_write("key", std::string(pem)); !r) return tl::unexpected(r.error());
  auto added = journal_.add_key(*key, write_ms());
  if (!added) return storage_failure(added.error());
  if (*added) keys_.push_back(std::move(*key));
  return receipt.dump();
}

void SiteStore::pin_key(PublicKey key) {
  std::lock_guard lock(mutex_);
  auto same = [&](const PublicKey& p) { return p.key_id_hex() == key.key_id_hex(); };
  if (std::none_of(options_.pinned.begin(), options_.pinned.end(), same)) options_.pinned.push_back(std::move(key));
}

void SiteStore::revoke_key(const std::string& key_id, uint64_t from_seq) {
  std::lock_guard lock(mutex_);
  auto [it, added] = revoked_from_.emplace(key_id, from_seq);
  if (!added) it->second = std::min(it->second, from_seq);
}

std::optional<uint64_t> SiteStore::revoked_from(std::string_view key_id) const {
  if (revoked_from_.empty()) return std::nullopt;
  auto it = revoked_from_.find(key_id);
  return it == revoked_from_.end() ? std::nullopt : std::optional(it->second);
}

Answer<std::string> SiteStore::keys() {
  json out = json::array();
  {
    std::lock_guard lock(mutex_);
    auto infos = journal_.public_keys();
    if (!infos) return storage_failure(infos.error());
    for (const auto& k : *infos) {
      out.push_back({{"key_id", k.key_id_hex}, {"algorithm", k.algorithm}, {"public_key_pem", k.pem},
                     {"registered_ms", k.first_used_ms}});
      if (auto from = revoked_from(k.key_id_hex)) out.back()["revoked_from_seq"] = *from;
    }
  }
  auto activated = tpm_activations();
  for (json& k : out)
    if (auto it = activated.find(k["key_id"].get<std::string>()); it != activated.end()) {
      k["tpm"] = json::parse(it->second.statement);
      k["tpm_activated_ms"] = it->second.activated_ms;
    }
  return out.dump();
}

}  // namespace mrv::registry
