#pragma once
// The verifier bundle (docs/verification.md §4): one .tar.gz with the records of a time
// range, the checkpoints covering them and the proofs that tie them to the signed tree.
// write_bundle reads a journal (one snapshot); verify_bundle trusts nothing in the file
// but the keys the verifier pins.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::evidence {

struct BundleRequest {
  int64_t from_ms = 0, to_ms = 0;
  std::filesystem::path out;
  std::optional<std::string> since_checkpoint;  // a checkpoint note the verifier holds
  Signer* signer = nullptr;  // the agent's key: signs the manifest (its claims)
  // The signer is a registry's key, not the site's: it is not listed in keys.json and
  // manifest.sig says "signer": "registry" (docs/verification.md §4.1).
  bool registry_signer = false;
  std::optional<std::string> report_json;  // a signed monitoring report to carry (report.json)
  // key id -> the JSON text of that key's TPM statement (docs/verification.md §8), put into
  // keys.json as the key's "tpm" member.
  std::map<std::string, std::string> tpm_statements;
  // A registry's bundle: key id -> when the registry activated that key's attestation key
  // in its TPM (UTC ms), put into keys.json as the key's "tpm_activation" member (§8.5).
  std::map<std::string, int64_t> tpm_activations;
  uint64_t max_seq = 0;  // not 0: records after this seq are left out (no checkpoint covers them yet)
  // Not 0: the range reaches at least this seq (a carried report's seqs.last, which covers
  // the site records it used, entered after the window's last record, say): the report's
  // end checkpoint is then among the bundle's checkpoints. Past the journal's last record
  // is an error.
  uint64_t reach_seq = 0;
  // Called now and then with (records written, records in all).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct BundleSummary {
  uint64_t first_seq = 0, last_seq = 0, records = 0, checkpoints = 0, closing_tree_size = 0;
};

[[nodiscard]] Result<BundleSummary> write_bundle(Journal& journal, const std::string& site_id,
                                                 const BundleRequest& request);

struct BundleVerdict {
  uint64_t records = 0, first_seq = 0, last_seq = 0, checkpoints = 0, closing_tree_size = 0;
  std::map<std::string, std::string> failures;  // kind -> the first failure of that kind
  std::vector<std::string> declared_breaks, findings, notes;
  // Per key of keys.json, what its TPM statement shows (§8): "verified (...)", "not
  // claimed" or "claimed but unverifiable (why)". Information: it never changes the verdict.
  std::map<std::string, std::string> tpm_keys;
  // What tpm_starts.json shows (§8.4): "verified (…)", "claimed but unverifiable (…)",
  // "not claimed" (a key claims a TPM, no starts), or "" (no TPM anywhere). Information too.
  std::string tpm_starts;
  // What the registry's cosignatures show (§3.1): "the closing checkpoint (…) by …", "a
  // later checkpoint (…)", "not cosigned (…)", "not checked (…)" (no --registry-key), or
  // "" (none listed, no registry key). Information, unless require_cosigned.
  std::string cosigned;
  int exit_code() const;                        // docs/verification.md §6
  std::string verdict() const;
  std::string to_json() const;
  std::string to_text() const;
};

// `since_checkpoint`: the note the verifier already holds (the bundle must prove
// consistency with it). With no pinned keys, the bundle's own keys are used, and a note
// says that this proves integrity, not authorship.
// `registry_keys`: keys that may sign the manifest (a registry's bundle), never records.
// `tpm_ca_pem`: TPM manufacturers' CA certificates to check keys' TPM statements against.
// `require_cosigned`: the closing checkpoint, or a later one consistent with it, must carry
// a registry key's cosignature (§3.1); else that is a failure.
BundleVerdict verify_bundle(const std::filesystem::path& bundle, std::span<const PublicKey> pinned,
                            const std::optional<std::string>& since_checkpoint,
                            std::span<const PublicKey> registry_keys = {}, std::string_view tpm_ca_pem = {},
                            bool require_cosigned = false);

// True when the file starts like a gzip stream (a bundle, not an NDJSON export).
bool looks_like_bundle(const std::filesystem::path& file);

}  // namespace mrv::evidence
