#pragma once
// The verifiers' page of a site (docs/registry-api.md §4.1): read-only HTML of what the
// registry holds for it, its keys, coverage per day, the newest cosigned checkpoint, its
// reports and a form for bundles. Gathered by SiteStore::page, rendered here apart from
// I/O; every text from a site or a config is escaped.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mrv/core/journal.hpp"

namespace mrv::registry {

struct SitePage {
  std::string site_id;
  int64_t now_ms = 0;
  int days = 31;
  int64_t from_ms = 0, to_ms = 0;  // the coverage window [from, to): whole UTC days
  JournalStats stats;
  uint64_t unproven_records = 0;

  struct Key {
    std::string key_id, algorithm;
    int64_t registered_ms = 0;
    int64_t tpm_activated_ms = 0;  // 0: its TPM attestation key was never activated here
    bool signed_latest = false;    // a signature line of the newest checkpoint is this key's
    uint64_t revoked_from_seq = 0; // 0: not revoked (docs/registry-api.md §8.1)
  };
  std::vector<Key> keys;

  std::optional<StoredCheckpoint> latest, cosigned;  // newest, and newest with a cosignature
  struct CosignatureInfo {
    std::string name, key_id_hex;  // key id: the 4 bytes of the line
    uint64_t time_s = 0;
    bool ours = false;  // made by this registry's [cosign] key
  };
  std::vector<CosignatureInfo> cosignatures;  // of `cosigned`

  std::vector<DayCoverage> coverage;  // days with readings in the window

  struct Report {
    std::string sha256;
    uint64_t bytes = 0;
    int64_t received_ms = 0;
  };
  std::vector<Report> reports;  // newest first

  // The registry's own: its cosigner (empty: it cosigns nothing) and whether it serves bundles.
  std::string cosigner_name, cosigner_key_id;
  bool bundles = false;
};

std::string render_site_page(const SitePage& page);

// One line of the list of sites a credential may read (GET /v1/sites).
struct SiteIndexEntry {
  std::string id;
  std::string unavailable;  // why its store is held back ("" when it is served)
  uint64_t records = 0, latest_size = 0, cosigned_size = 0;
  int64_t latest_ms = 0;  // the newest checkpoint's signing time
};
std::string render_site_index(const std::vector<SiteIndexEntry>& sites, int64_t now_ms);

}  // namespace mrv::registry
