#pragma once
// mrv-registry's configuration (configs/registry.toml), parsed once and validated whole;
// every error names file:line and the key path. Relative paths resolve against the
// config file's folder.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "mrv/core/error.hpp"

namespace mrv::registry {

// Who may use the API: a site (writes and reads its own data) or a reader (a verifier:
// reads every site). A credential is a bearer token (kept as its SHA-256) or a client
// certificate (its subject CN or the SHA-256 of its DER).
struct Credential {
  std::string token_sha256;    // hex, lower case; empty: no token
  std::filesystem::path token_file;  // or the token itself, read (and hashed) at start
  std::string client_cert_cn;
  std::string client_cert_sha256;
};

struct SiteEntry {
  std::string id;
  Credential credential;
  std::vector<std::filesystem::path> keys;  // pinned public keys; empty: the site registers its own
};

struct ReaderEntry {
  std::string name;
  Credential credential;
};

struct RegistryConfig {
  std::filesystem::path file;
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8443;
  std::filesystem::path data_dir;
  std::filesystem::path cert_file, key_file, client_ca_file;
  std::filesystem::path bundle_key_file;  // the registry's key for bundle manifests (optional)
  size_t max_body_bytes = 16 << 20;       // gzip body; inflated at most 4x this
  size_t max_batch_records = 100'000;
  int verify_threads = 0;                 // 0: one per core
  int max_connections = 256;
  int idle_timeout_ms = 30'000;           // a connection silent this long is closed
  std::vector<SiteEntry> sites;
  std::vector<ReaderEntry> readers;
};

[[nodiscard]] tl::expected<RegistryConfig, std::vector<Error>> load_registry_config(
    const std::filesystem::path& file);

}  // namespace mrv::registry
