#include <sys/stat.h>

#include <fstream>

#include "audit_log.hpp"
#include "site_write_log.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/log.hpp"
#include "mrv/core/secret_file.hpp"
#include "mrv/registry/registry_config.hpp"
#include "mrv/registry/cosigner.hpp"
#include "tls_context.hpp"

namespace mrv::registry {

Result<std::string> read_tpm_ca(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorCode::io, file.string(), "cannot read the TPM CA bundle");
  std::string pem((std::istreambuf_iterator<char>(in)), {});
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos)
    return fail(ErrorCode::config, file.string(), "holds no PEM certificate (the TPM manufacturers' CAs)");
  return pem;
}

Result<void> check_registry_files(const RegistryConfig& config) {
  auto check_token = [](const Credential& c) -> Result<void> {
    if (c.token_file.empty()) return {};
    auto token = read_secret_file(c.token_file, S_IRWXO);
    if (!token) return tl::unexpected(token.error());
    if (token->empty()) return fail(ErrorCode::config, c.token_file.string(), "the token file is empty");
    return {};
  };
  for (const auto& s : config.sites)
    if (auto r = check_token(s.credential); !r) return r;
  for (const auto* list : {&config.readers, &config.admins})
    for (const auto& e : *list)
      if (auto r = check_token(e.credential); !r) return r;
  if (auto r = check_tls_files(config); !r) return r;
  if (!config.bundle_key_file.empty())
    if (auto signer = Signer::load(config.bundle_key_file); !signer) return tl::unexpected(signer.error());
  if (!config.cosign_key_file.empty())
    if (auto cosigner = Cosigner::load(config.cosign_key_file, config.cosigner_name); !cosigner)
      return tl::unexpected(cosigner.error());
  if (!config.tpm_ca_file.empty())
    if (auto pem = read_tpm_ca(config.tpm_ca_file); !pem) return tl::unexpected(pem.error());
  for (const auto& s : config.sites)
    for (const auto& f : s.keys)
      if (auto key = PublicKey::load(f); !key) return tl::unexpected(key.error());
  if (!config.database_url.empty()) {
    auto database = AuditLog::check_postgres(config.database_url);
    if (!database) return tl::unexpected(database.error());
    log::info("check-config: " + *database);
    auto sites = SiteWriteLog::check(config.database_url);
    if (!sites) return tl::unexpected(sites.error());
    log::info("check-config: " + *sites);
  }
  return {};
}

}  // namespace mrv::registry
