// tpm-activate: the registry binds the TPM key's attestation key (AK) to the TPM's
// endorsement key (docs/verification.md §8.5, docs/registry-api.md §3.6). The key is
// registered, a fresh statement is sent, and the registry's challenge, sealed to the EK
// and the AK, is opened in the TPM with TPM2_ActivateCredential while that AK is loaded.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/evidence/tpm_credential.hpp"
#include "mrv/uploader/uploader.hpp"
#include "tpm_statement_maker.hpp"

namespace mrv::agent {
namespace {

using json = nlohmann::json;

// The challenge of the registry's answer, as tpm2_activatecredential reads it.
Result<std::string> challenge_file(const std::string& answer) {
  json j = json::parse(answer, nullptr, false);
  if (!j.is_object() || !j.contains("id_object") || !j["id_object"].is_string() || !j.contains("encrypted_secret") ||
      !j["encrypted_secret"].is_string())
    return fail(ErrorCode::corruption, "registry", "the answer is not {id_object, encrypted_secret}: " + answer.substr(0, 200));
  auto id_object = from_base64(j["id_object"].get<std::string>());
  auto secret = from_base64(j["encrypted_secret"].get<std::string>());
  if (!id_object || !secret) return fail(ErrorCode::corruption, "registry", "the challenge is not base64");
  return evidence::TpmCredentialChallenge{*id_object, *secret}.tpm2_tools_file();
}

}  // namespace

int tpm_activate(const std::filesystem::path& config_path) {
  auto c = load_config(config_path);
  if (!c) {
    for (const Error& e : c.error()) std::cerr << e.to_string() << "\n";
    return kExitFailure;
  }
  auto failed = [](const Error& e, const char* step) {
    std::cerr << "tpm-activate: " << step << ": " << e.to_string() << "\n";
    return kExitFailure;
  };
  if (c->upload.url.empty()) {
    std::cerr << config_path.string() << ": no [upload] section: no registry to activate the key with\n";
    return kExitFailure;
  }
  const auto& key_file = c->signing.key_file;
  if (!is_tpm_key_file(key_file)) {
    std::cerr << key_file.string() << ": not a key held in a TPM (keygen --tpm makes one)\n";
    return kExitFailure;
  }
  std::string pem, key_id;
  {
    auto signer = Signer::load(key_file, c->signing.tpm_tcti);
    if (!signer) return failed(signer.error(), "the signing key");
    pem = signer->public_pem();
    key_id = signer->key_id_hex();
  }
  release_tpm();  // the tools below need the TPM to themselves when it serves one client
  if (auto r = uploader::site_request(*c, "PUT", "keys", "application/x-pem-file", pem); !r)
    return failed(r.error(), "registering the key");
  TpmStatementSession session(key_file, c->signing.tpm_tcti);
  auto statement = session.make_statement();
  if (!statement) return failed(statement.error(), "the TPM key statement");
  std::cout << "key " << key_id << ": TPM key statement made, sent to " << c->upload.url << "\n";
  auto answer = uploader::site_request(*c, "POST", "keys/" + key_id + "/tpm", "application/json", *statement);
  if (!answer) return failed(answer.error(), "the registry's challenge");
  auto challenge = challenge_file(*answer);
  if (!challenge) return failed(challenge.error(), "the registry's challenge");
  auto credential = session.activate(*challenge);
  if (!credential) return failed(credential.error(), "opening the challenge in the TPM");
  auto done = uploader::site_request(*c, "POST", "keys/" + key_id + "/tpm/activation", "application/json",
                                     json{{"credential", to_base64(*credential)}}.dump());
  if (!done) return failed(done.error(), "the activation");
  // Export carries the activated statement, so the agent's bundles name the same
  // attestation key; the start counter uses that key (docs/verification.md §8.4).
  if (auto r = session.keep(*statement); !r) return failed(r.error(), "keeping the statement");
  json receipt = json::parse(*done, nullptr, false);
  int64_t at = receipt.is_object() && receipt.contains("activated_ms") && receipt["activated_ms"].is_number_integer()
                   ? receipt["activated_ms"].get<int64_t>()
                   : 0;
  std::cout << "key " << key_id << ": attestation key activated in this TPM by the registry at " << format_utc_ms(at)
            << "; statement kept in " << tpm_statement_path(key_file).string() << "\n";
  return kExitOk;
}

}  // namespace mrv::agent
