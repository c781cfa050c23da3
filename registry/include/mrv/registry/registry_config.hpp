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

// What an empty bearer token, or a Basic password that does not decode, hashes to: never
// a credential (`echo -n "$TOKEN" | sha256sum` with TOKEN unset gives it), so a config
// or an admin action naming it is refused.
inline constexpr std::string_view kEmptyTokenSha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct SiteEntry {
  std::string id;
  Credential credential;
  // Pinned public keys. Empty: the site registers its own keys, but only while it holds
  // no records (trust on first use); a later key must be pinned here.
  std::vector<std::filesystem::path> keys;
  // Accepts records without a signature of their own (alg "checkpoint"): held unproven
  // until a signed checkpoint covers them (docs/registry-api.md §3.3).
  bool checkpoint_only = false;
};

// A reader (a verifier), or an admin: one who enrolls sites and readers at run time
// (docs/registry-api.md §8) and nothing else.
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
  // The registry's cosigning key (Ed25519) and name: with them, it cosigns each checkpoint
  // it accepts (docs/verification.md §3.1); without, receipts carry no cosignature.
  std::filesystem::path cosign_key_file;
  std::string cosigner_name;
  // TPM manufacturers' CA certificates (PEM): with it, sites may have their TPM keys'
  // attestation keys activated (docs/registry-api.md §3.6); without, that is refused.
  std::filesystem::path tpm_ca_file;
  // [database] url: a PostgreSQL connection URI (docs/operations.md). With it, the audit
  // log of the admins' actions and every site's accepted writes are kept there, shared by
  // every registry process that names it (data_dir/sites is then each one's copy);
  // without, in data_dir/audit.db and data_dir/sites.
  std::string database_url;
  size_t max_body_bytes = 16 << 20;       // gzip body; inflated at most 4x this
  size_t max_batch_records = 100'000;
  int verify_threads = 0;                 // 0: one per core
  int request_threads = 0;                // requests handled at once (0: one per core, at least 2)
  // Input limits (docs/registry-api.md §1.1): what one peer, and all peers together, can
  // make the registry hold and for how long.
  int max_connections = 256;              // beyond: the oldest connection not in a request is cut
  size_t max_header_bytes = 8192;         // request line and headers (and chunked trailers)
  size_t max_body_bytes_total = 64 << 20; // bodies held across all connections at once
  int idle_timeout_ms = 30'000;           // no request on an open connection, or a stalled answer
  int header_timeout_ms = 10'000;         // TLS handshake, request line and headers
  int request_timeout_ms = 120'000;       // a whole request: headers, then body
  std::vector<SiteEntry> sites;
  std::vector<ReaderEntry> readers;
  std::vector<ReaderEntry> admins;
};

[[nodiscard]] tl::expected<RegistryConfig, std::vector<Error>> load_registry_config(
    const std::filesystem::path& file);

// The secrets and keys a config names, read and checked as the registry reads them at
// start (check-config runs the same): token files (regular, not empty, not readable by
// others), the TLS certificate and key (not readable by others), the bundle key and the
// pinned keys; and [database]: the server answers and its schema is not newer than this
// registry's (read only: nothing is created or migrated).
[[nodiscard]] Result<void> check_registry_files(const RegistryConfig& config);
// The [tpm] ca_file's text: readable, with at least one PEM certificate.
[[nodiscard]] Result<std::string> read_tpm_ca(const std::filesystem::path& file);

// The site's SQLite file under data_dir/sites: the id with '%', '/' and ':' escaped as
// %XX, so two ids never share a file.
std::filesystem::path site_file_name(const std::string& site_id);

}  // namespace mrv::registry
