// The activation of a TPM key's attestation key (docs/registry-api.md §3.6,
// docs/verification.md §8.5): TPM2_MakeCredential to the EK of the statement's EK
// certificate and the AK's name; the TPM that opens it holds both.
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"
#include "mrv/evidence/tpm_credential.hpp"
#include "mrv/evidence/tpm_statement.hpp"
#include "mrv/registry/site_store.hpp"
#include "site_write_log.hpp"
#include "store_answers.hpp"

namespace mrv::registry {
namespace {

using json = nlohmann::json;
constexpr int64_t kChallengeLifetimeMs = 10 * 60 * 1000;  // an operator's enrollment, not a session

}  // namespace

Answer<std::string> SiteStore::tpm_challenge(std::string_view key_id, std::string_view statement,
                                             std::string_view tpm_ca_pem) {
  if (tpm_ca_pem.empty())
    return refuse(404, "not_found", "tpm", "this registry activates no TPM keys (no [tpm] ca_file)");
  std::lock_guard lock(mutex_);
  return write_locked([&]() -> Answer<std::string> {
    auto key = std::find_if(keys_.begin(), keys_.end(), [&](const PublicKey& k) { return k.key_id_hex() == key_id; });
    if (key == keys_.end())
      return refuse(404, "not_found", "key", "key " + std::string(key_id) + " is not registered for site '" + site_id_ + "'");
    // The statement's JSON as one object (its own limits apply: docs/verification.md §8.1).
    json parsed = json::parse(statement, nullptr, false);
    if (statement.size() > evidence::kMaxTpmStatementJson || parsed.is_discarded() || !parsed.is_object())
      return refuse(400, "malformed", "tpm", "the body is not a TPM key statement (a JSON object of at most 16 KiB)");
    const std::string text = parsed.dump();
    auto check = evidence::check_tpm_statement(text, key->spki_der(), tpm_ca_pem, utc_now_ms() / 1000);
    if (check.claim != evidence::TpmClaim::verified)
      return refuse(422, "tpm_unverifiable", "tpm", "the TPM key statement does not verify: " + check.detail);
    auto parts = evidence::tpm_statement_parts(text);
    if (!parts) return refuse(422, "tpm_unverifiable", "tpm", parts.error().message);
    std::string credential(evidence::kTpmCredentialBytes, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(credential.data()), static_cast<int>(credential.size())) != 1)
      return refuse(500, "internal", "tpm", "no random bytes");
    auto challenge = evidence::make_tpm_credential(parts->ek_certificate, parts->ak_name, credential);
    if (!challenge) return refuse(422, "tpm_unverifiable", "tpm", challenge.error().message);
    // Logged with its secret, so the answer may reach another registry process.
    if (auto r = log_write("tpm_challenge", text, std::string(key_id) + " " + to_base64(credential)); !r)
      return tl::unexpected(r.error());
    pending_tpm_[std::string(key_id)] = {text, credential, write_ms() + kChallengeLifetimeMs};
    return json{{"site", site_id_}, {"key_id", key_id}, {"id_object", to_base64(challenge->id_object)},
                {"encrypted_secret", to_base64(challenge->encrypted_secret)}}
        .dump();
  });
}

Answer<std::string> SiteStore::tpm_challenge_replay(const SiteWrite& w) {
  size_t space = w.extra.find(' ');
  auto credential = from_base64(std::string_view(w.extra).substr(space == std::string::npos ? w.extra.size() : space + 1));
  if (space == std::string::npos || !credential)
    return refuse(500, "storage", "storage", "write " + std::to_string(w.n) + ": a TPM challenge without its key and secret");
  pending_tpm_[w.extra.substr(0, space)] = {w.body, std::move(*credential), w.at_ms + kChallengeLifetimeMs};
  return std::string();
}

Answer<std::string> SiteStore::tpm_activate(std::string_view key_id, std::string_view answer) {
  json parsed = json::parse(answer, nullptr, false);
  std::optional<std::string> credential;
  if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("credential") && parsed["credential"].is_string() &&
      parsed["credential"].get_ref<const std::string&>().size() <= 128) {
    auto decoded = from_base64(parsed["credential"].get_ref<const std::string&>());
    if (decoded) credential = std::move(*decoded);
  }
  if (!credential) return refuse(400, "malformed", "tpm", "the body is not {\"credential\": base64}");
  std::lock_guard lock(mutex_);
  return write_locked([&] { return tpm_activate_locked(key_id, *credential); });
}

Answer<std::string> SiteStore::tpm_activate_locked(std::string_view key_id, std::string_view credential) {
  auto it = pending_tpm_.find(key_id);
  if (it == pending_tpm_.end() || it->second.expires_ms < write_ms()) {
    if (it != pending_tpm_.end()) pending_tpm_.erase(it);
    return refuse(409, "no_challenge", "tpm", "no open TPM challenge for key " + std::string(key_id) +
                                                  " (POST the statement first; a challenge lasts 10 minutes)");
  }
  // One answer per challenge: a wrong one ends it, so the credential cannot be guessed.
  if (auto r = log_write("tpm_activate", std::string(credential), std::string(key_id)); !r) return tl::unexpected(r.error());
  PendingActivation pending = std::move(it->second);
  pending_tpm_.erase(it);
  if (credential.size() != pending.credential.size() ||
      CRYPTO_memcmp(credential.data(), pending.credential.data(), credential.size()) != 0) {
    log::warning("registry: site '" + site_id_ + "': key " + std::string(key_id) +
                 ": a wrong TPM credential: the attestation key is not in the TPM of the EK certificate");
    return refuse(403, "tpm_activation_failed", "tpm",
                  "the credential is not the one sealed to the EK and the attestation key: the attestation key is "
                  "not in the TPM of the statement's EK certificate");
  }
  const int64_t now = write_ms();
  json record = {{"statement", json::parse(pending.statement)}, {"activated_ms", now}};
  if (auto r = write_durably(tpm_dir_ / (std::string(key_id) + ".json"), record.dump()); !r)
    return storage_failure(r.error());
  log::notice("registry: site '" + site_id_ + "': key " + std::string(key_id) + ": attestation key activated in its TPM");
  return json{{"site", site_id_}, {"key_id", key_id}, {"activated_ms", now}}.dump();
}

std::map<std::string, SiteStore::TpmActivation> SiteStore::tpm_activations() {
  std::lock_guard lock(mutex_);
  std::map<std::string, TpmActivation> out;
  for (const PublicKey& k : keys_) {
    std::ifstream in(tpm_dir_ / (k.key_id_hex() + ".json"), std::ios::binary);
    if (!in) continue;
    json j = json::parse(std::string(std::istreambuf_iterator<char>(in), {}), nullptr, false);
    if (j.is_object() && j.contains("statement") && j["statement"].is_object() && j.contains("activated_ms") &&
        j["activated_ms"].is_number_integer())
      out[k.key_id_hex()] = {j["statement"].dump(), j["activated_ms"].get<int64_t>()};
  }
  return out;
}

}  // namespace mrv::registry
