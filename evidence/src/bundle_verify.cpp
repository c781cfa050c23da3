// verify_bundle: the checks of docs/verification.md §6, streaming the bundle once.
#include <algorithm>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "mrv/core/clock.hpp"
#include "mrv/evidence/tpm_starts.hpp"
#include "mrv/evidence/tpm_statement.hpp"
#include <toml++/toml.h>

#include "mrv/evidence/bundle.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/chain_verifier.hpp"
#include "mrv/core/checkpoint.hpp"
#include "mrv/core/merkle.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/core/text_limits.hpp"
#include "mrv/core/time_text.hpp"
#include "bundle_calibrations.hpp"
#include "bundle_cosignatures.hpp"
#include "bundle_report_check.hpp"
#include "mrv/evidence/tar_gz.hpp"

namespace mrv::evidence {
namespace {

using nlohmann::json;

struct ActivationClaim {
  std::string registry_key_id, activated_at;  // both empty: no claim
  bool malformed = false;
};

// A key's "tpm_activation" (§8.5), from outside: {registry_key_id: 64 lowercase hex,
// activated_at: a time as format_utc_ms writes it}, else malformed.
ActivationClaim activation_claim(const json& key) {
  ActivationClaim claim;
  if (!key.contains("tpm_activation")) return claim;
  const json& a = key["tpm_activation"];
  auto text = [&](const char* name) {
    return a.is_object() && a.contains(name) && a[name].is_string() ? a[name].get<std::string>() : std::string();
  };
  claim.registry_key_id = text("registry_key_id");
  claim.activated_at = text("activated_at");
  std::optional<int64_t> ms;
  if (claim.activated_at.size() >= 20 && claim.activated_at.size() <= 24 && claim.activated_at[4] == '-')
    if (auto parsed = parse_time_ms(claim.activated_at)) ms = *parsed;
  claim.malformed = claim.registry_key_id.size() != 64 ||
                    claim.registry_key_id.find_first_not_of("0123456789abcdef") != std::string::npos || !ms ||
                    format_utc_ms(*ms) != claim.activated_at;
  return claim;
}

// What a hostile bundle can make the verifier hold (docs/verification.md §6.1); JSON and
// TOML are bounded further by text_limits.hpp.
constexpr size_t kMaxWholeEntryBytes = 64u << 20;     // an entry read whole: manifest, keys, checkpoints, ...
constexpr size_t kMaxWholeEntriesBytes = 128u << 20;  // all entries read whole, together
constexpr size_t kMaxManifestSigBytes = 4096;
constexpr size_t kMaxLineBytes = 1u << 20;  // a line of records.ndjson or gaps.ndjson, without its \n

// The entries of docs/verification.md §4 in their required order; only configs/ repeats.
constexpr const char* kEntryOrder[] = {"manifest.json",    "manifest.sig", "keys.json",
                                       "configs/",         "checkpoints.json", "tpm_starts.json", "report.json",
                                       "records.ndjson",   "gaps.ndjson",  "quarantine.ndjson"};
constexpr int kConfigsRank = 3;

bool is_config_name(const std::string& name) {
  return name.size() == 8 + 64 + 5 && name.starts_with("configs/") && name.ends_with(".toml") &&
         name.find_first_not_of("0123456789abcdef", 8) == 8 + 64;
}

// Its place in kEntryOrder; -1 for a name a bundle does not have.
int entry_rank(const std::string& name) {
  if (is_config_name(name)) return kConfigsRank;
  for (int i = 0; i < static_cast<int>(std::size(kEntryOrder)); ++i)
    if (i != kConfigsRank && name == kEntryOrder[i]) return i;
  return -1;
}

// Every JSON text of a bundle is parsed here, its nesting and values bounded first:
// nlohmann's dump, copies and comparisons recurse once per level, its tree costs 16 bytes
// and more per value.
Result<json> parse_outside_json(std::string_view text) {
  if (auto shallow = check_json_limits(text); !shallow) return tl::unexpected(shallow.error());
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return fail(ErrorCode::invalid_argument, "", "not valid JSON");
  return j;
}

// A JSON value nlohmann holds as unsigned that also fits a signed 64-bit integer (the
// range docs/record-format.md gives every integer).
bool is_count(const json& j) {
  return j.is_number_unsigned() && j.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
}

std::optional<Sha256> hash_from_hex(const json& j) {
  if (!j.is_string()) return std::nullopt;
  auto raw = from_hex(j.get<std::string>());
  if (!raw || raw->size() != 32) return std::nullopt;
  Sha256 h{};
  std::copy(raw->begin(), raw->end(), h.begin());
  return h;
}

std::optional<std::vector<Sha256>> hashes_from(const json& list) {
  if (!list.is_array()) return std::nullopt;
  std::vector<Sha256> out;
  for (const json& j : list) {
    auto h = hash_from_hex(j);
    if (!h) return std::nullopt;
    out.push_back(*h);
  }
  return out;
}

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct PointMeta {
  std::string meter_serial;
  std::optional<int64_t> calibration_end_ms;  // first ms after the validity date
  std::string calibration_date;
};

// A record signature to check off the parsing thread.
struct SignatureJob {
  const PublicKey* key = nullptr;
  std::string message, signature, where;
};

// Checks a batch on `threads` threads; returns where the first bad signature is.
std::optional<std::string> check_signatures(const std::vector<SignatureJob>& jobs, unsigned threads) {
  std::vector<size_t> first_bad(threads, SIZE_MAX);
  auto slice = [&](unsigned t) {
    // Each thread its own verifiers: OpenSSL serialises threads that share one EVP_PKEY.
    std::unordered_map<const PublicKey*, SignatureVerifier> own;
    for (size_t i = t; i < jobs.size(); i += threads) {
      auto it = own.find(jobs[i].key);
      if (it == own.end()) it = own.emplace(jobs[i].key, SignatureVerifier(*jobs[i].key)).first;
      if (!it->second.verify(jobs[i].message, jobs[i].signature)) {
        first_bad[t] = i;
        return;
      }
    }
  };
  std::vector<std::thread> extra;
  for (unsigned t = 1; t < threads; ++t) extra.emplace_back(slice, t);
  slice(0);
  for (auto& th : extra) th.join();
  size_t bad = *std::min_element(first_bad.begin(), first_bad.end());
  if (bad == SIZE_MAX) return std::nullopt;
  return jobs[bad].where + ": bad signature";
}

struct CheckpointEntry {
  Checkpoint checkpoint;
  std::vector<Sha256> right;
  std::vector<Cosignature> cosignatures;  // as listed, not yet checked
  bool signed_ok = false;                 // by a pinned (trusted) key
};

class BundleChecker {
 public:
  BundleChecker(std::span<const PublicKey> pinned, const std::optional<std::string>& since, BundleVerdict& v,
                std::span<const PublicKey> registry_keys, bool require_cosigned)
      : pinned_(pinned), registry_keys_(registry_keys), since_given_(since), require_cosigned_(require_cosigned),
        v_(v) {}

  void run(const std::filesystem::path& path);
  std::string tpm_ca_pem;  // TPM manufacturers' CA certificates (PEM) for the keys' TPM statements

 private:
  void failure(const std::string& kind, std::string message) { v_.failures.try_emplace(kind, std::move(message)); }
  bool entry(TarGzReader& tar, const std::string& name);
  void on_manifest(const std::string& text);
  void on_keys(const std::string& text);
  void check_manifest_signature();
  void describe_activations();
  void on_config(const std::string& name, const std::string& text);
  void on_checkpoints(const std::string& text);
  void on_tpm_starts(const std::string& text);
  void confirm_start_heads(uint64_t seq, const std::string& hash_hex, const std::string& prev_hash_hex);
  void on_record(std::string_view line, size_t line_no);
  void on_gap(std::string_view line, size_t line_no);
  void push_leaf(const Sha256& leaf);
  void push_absent_until(uint64_t size);
  void compare_checkpoints();
  void metrology(const RecordFields& f);
  // Hands the batch of signatures to the checking threads (after the previous batch's
  // result is in), so parsing and signature checks overlap.
  void dispatch_signatures();
  void finish();
  void check_cosignatures();

  std::span<const PublicKey> pinned_, registry_keys_;
  std::optional<std::string> since_given_;
  bool require_cosigned_ = false;
  BundleVerdict& v_;

  bool have_manifest_ = false, have_checkpoints_ = false, manifest_signed_ = false;
  std::string manifest_text_, manifest_sig_text_;
  std::string site_, origin_;
  uint64_t claimed_first_ = 0, claimed_last_ = 0, claimed_records_ = 0;
  std::unordered_map<std::string, std::pair<uint64_t, std::string>> listed_;  // name -> bytes, sha256
  std::unordered_map<std::string, bool> seen_;
  uint64_t whole_bytes_ = 0;  // of the entries read whole so far (kMaxWholeEntriesBytes)

  std::vector<PublicKey> bundle_keys_;
  std::string registry_signer_;  // the id of the --registry-key that signed the manifest ("": none)
  bool keys_as_listed_ = false;  // keys.json has the size and SHA-256 the signed manifest lists
  std::map<std::string, ActivationClaim> activations_;  // key id -> its keys.json "tpm_activation"
  std::map<std::string, TpmStartKey> start_keys_;         // keys whose TPM statement verified (§8.4)
  std::optional<TpmStartsCheck> starts_;
  std::map<uint64_t, std::string> unconfirmed_heads_;  // a start's head_seq -> its head_hash, until a record shows it
  std::span<const PublicKey> trusted_;
  std::optional<ChainVerifier> chain_;

  std::unordered_map<std::string, std::unordered_map<std::string, PointMeta>> configs_;
  std::map<std::string, std::string> config_texts_;  // by hash: the report's recomputation reads them
  std::optional<BundleReportCheck> report_;
  std::vector<CheckpointEntry> checkpoints_;
  size_t next_checkpoint_ = 0;
  std::optional<CheckpointEntry> since_;
  std::vector<Sha256> since_proof_;
  std::optional<CheckpointEntry> cosigned_later_;  // §4.3: a cosigned checkpoint after the closing one
  std::vector<Sha256> cosigned_later_proof_;
  MerkleFrontier frontier_;

  Sha256Stream gaps_expected_, gaps_found_;
  uint64_t gaps_expected_count_ = 0, gaps_found_count_ = 0;
  std::unordered_map<std::string, std::string> serial_seen_;  // point -> serial
  std::unordered_map<std::string, uint64_t> expired_;         // point -> readings
  std::unordered_set<std::string> undeclared_;                // points without a config entry
  BundleCalibrations calibrations_;  // recorded calibrations: the report's site records, then the range's

  static constexpr size_t kSignatureBatch = 512;
  std::vector<SignatureJob> signatures_;
  std::future<std::optional<std::string>> signatures_checked_;
  unsigned signature_threads_ = std::max(1u, std::thread::hardware_concurrency());
};

void BundleChecker::dispatch_signatures() {
  if (signatures_checked_.valid())
    if (auto bad = signatures_checked_.get()) failure("signature", *bad);
  if (signatures_.empty()) return;
  signatures_checked_ = std::async(std::launch::async, [jobs = std::move(signatures_), n = signature_threads_] {
    return check_signatures(jobs, n);
  });
  signatures_.clear();
  signatures_.reserve(kSignatureBatch);
}

void BundleChecker::on_manifest(const std::string& text) {
  auto parsed = parse_outside_json(text);
  if (!parsed) return failure("manifest", "manifest.json: " + parsed.error().message);
  const json& m = *parsed;
  auto uint_of = [&](const char* k) -> std::optional<uint64_t> {
    if (!m.is_object() || !m.contains(k) || !is_count(m[k])) return std::nullopt;
    return m[k].get<uint64_t>();
  };
  if (!m.is_object() || !m.contains("format") || m["format"] != "mrv-bundle/1" || !m.contains("site") || !m["site"].is_string() ||
      !m.contains("origin") || !m["origin"].is_string() || !uint_of("first_seq") || !uint_of("last_seq") ||
      !uint_of("records") || !uint_of("from_ms") || !uint_of("to_ms") || !uint_of("created_ms") ||
      !m.contains("files") || !m["files"].is_array()) {
    failure("manifest", "manifest.json is not an mrv-bundle/1 manifest");
    return;
  }
  site_ = m["site"];
  origin_ = m["origin"];
  if (origin_ != "mrv-agent/" + site_)
    return failure("manifest", "manifest.json: origin '" + origin_ + "' is not mrv-agent/ and its site");
  claimed_first_ = *uint_of("first_seq");
  claimed_last_ = *uint_of("last_seq");
  claimed_records_ = *uint_of("records");
  bool agree = claimed_records_ == 0 ? claimed_first_ == 0 && claimed_last_ == 0
                                     : 1 <= claimed_first_ && claimed_first_ <= claimed_last_ &&
                                           claimed_records_ <= claimed_last_ - claimed_first_ + 1;
  if (!agree) return failure("manifest", "manifest.json: first_seq, last_seq and records do not agree");
  for (const json& f : m["files"]) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("bytes") ||
        !is_count(f["bytes"]) || !f.contains("sha256") || !f["sha256"].is_string()) {
      failure("manifest", "a files entry lacks name, bytes or sha256");
      return;
    }
    if (f["name"] == "manifest.json" || f["name"] == "manifest.sig")
      failure("manifest", "files lists " + f["name"].get<std::string>() + ", which it cannot hash");
    if (!listed_.emplace(f["name"].get<std::string>(), std::pair{f["bytes"].get<uint64_t>(), f["sha256"].get<std::string>()}).second)
      failure("manifest", "file " + f["name"].get<std::string>() + " is listed twice");
  }
  have_manifest_ = true;
}

void BundleChecker::on_keys(const std::string& text) {
  auto parsed = parse_outside_json(text);
  if (!parsed) return failure("keys", "keys.json: " + parsed.error().message);
  const json& keys = *parsed;
  if (!keys.is_array()) return failure("keys", "keys.json is not an array");
  for (const json& k : keys) {
    if (!k.is_object() || !k.contains("public_key_pem") || !k["public_key_pem"].is_string() || !k.contains("key_id") ||
        !k["key_id"].is_string())
      return failure("keys", "a key lacks key_id or public_key_pem");
    auto key = PublicKey::from_pem(k["public_key_pem"].get<std::string>());
    if (!key) return failure("keys", "key " + k["key_id"].get<std::string>() + ": " + key.error().message);
    if (key->key_id_hex() != k["key_id"].get<std::string>())
      return failure("keys", "key_id " + k["key_id"].get<std::string>() + " is not the SHA-256 of its key");
    // The key's TPM statement (§8): information about the key, never a failure of the
    // bundle. A key listed twice: its first entry speaks for it.
    if (!v_.tpm_keys.contains(key->key_id_hex())) {
      std::string statement;
      if (k.contains("tpm")) statement = k["tpm"].is_object() ? k["tpm"].dump() : std::string("not an object");
      TpmCheck tpm = check_tpm_statement(statement, key->spki_der(), tpm_ca_pem, utc_now_ms() / 1000);
      if (tpm.claim == TpmClaim::verified) {
        activations_[key->key_id_hex()] = activation_claim(k);
        if (auto parts = tpm_statement_parts(statement))
          start_keys_.emplace(key->key_id_hex(), TpmStartKey{parts->ak_public, parts->ek_certificate});
      }
      v_.tpm_keys.emplace(key->key_id_hex(),
                          std::string(to_string(tpm.claim)) + (tpm.detail.empty() ? "" : " (" + tpm.detail + ")"));
    }
    bundle_keys_.push_back(std::move(*key));
  }
  if (pinned_.empty()) {
    trusted_ = bundle_keys_;
    v_.notes.push_back("keys not pinned: the bundle's own keys were used, which proves integrity, not authorship");
  } else {
    trusted_ = pinned_;
  }
  chain_.emplace(trusted_);
  chain_->defer_signatures(true);
  check_manifest_signature();
  describe_activations();
}

// A verified statement says what binds its attestation key to the EK (§8.5): an
// activation counts only where the registry it names signed this bundle's manifest, and
// the manifest lists this keys.json.
void BundleChecker::describe_activations() {
  for (const auto& [key_id, claim] : activations_) {
    std::string& text = v_.tpm_keys[key_id];  // "verified (EK certificate ...)"
    std::string said;
    if (claim.malformed)
      said = "; its tpm_activation is malformed (registry_key_id must be 64 hex digits, activated_at a UTC time)";
    else if (claim.registry_key_id.empty())
      said = "; the attestation key was not activated by a registry: its binding to this EK is the site's word";
    else if (claim.registry_key_id == registry_signer_ && keys_as_listed_)
      said = "; the attestation key was activated in that TPM by registry " + registry_signer_ + " at " +
             claim.activated_at;
    else
      said = "; an activation by registry " + claim.registry_key_id +
             " is claimed, but no --registry-key of that id signed the manifest";
    text.insert(text.size() - 1, said);
  }
}

void BundleChecker::check_manifest_signature() {
  manifest_signed_ = true;
  auto parsed = parse_outside_json(manifest_sig_text_);
  if (!parsed) return failure("manifest", "manifest.sig: " + parsed.error().message);
  const json& sig = *parsed;
  if (!sig.is_object() || !sig.contains("key_id") || !sig["key_id"].is_string() || !sig.contains("signature") ||
      !sig["signature"].is_string())
    return failure("manifest", "manifest.sig is not {key_id, signature}");
  auto raw = from_base64(sig["signature"].get<std::string>());
  for (const PublicKey& k : trusted_)
    if (k.key_id_hex() == sig["key_id"] && raw && k.verify(manifest_text_, *raw)) return;
  for (const PublicKey& k : registry_keys_)
    if (k.key_id_hex() == sig["key_id"] && raw && k.verify(manifest_text_, *raw)) {
      registry_signer_ = k.key_id_hex();
      v_.notes.push_back("the manifest (its range claim) is signed by registry key " + k.key_id_hex() +
                         "; the records and checkpoints by the site's keys");
      return;
    }
  failure("manifest", sig.contains("signer") && sig["signer"] == "registry"
                          ? "manifest.sig: signed by a registry key that was not given with --registry-key"
                          : "manifest.sig: the manifest's signature does not verify with a pinned key");
}

void BundleChecker::on_config(const std::string& name, const std::string& text) {
  std::string hash = name.substr(8, name.size() - 8 - 5);  // configs/<hash>.toml
  if (to_hex(sha256(text)) != hash) return failure("configs", name + ": its SHA-256 is not its name");
  config_texts_[hash] = text;
  auto& points = configs_[hash];
  // The agent ran with this file, so it parsed then: one that does not is not what it wrote.
  if (auto shallow = check_toml_limits(text, name); !shallow) return failure("configs", shallow.error().to_string());
  toml::table parsed;
  try {
    parsed = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return failure("configs", name + ":" + std::to_string(e.source().begin.line) + ": not TOML (" +
                                  std::string(e.description()) + ")");
  }
  const toml::array* list = parsed["points"].as_array();
  if (!list) return;
  for (const toml::node& n : *list) {
    const toml::table* t = n.as_table();
    if (!t) continue;
    auto id = (*t)["id"].value<std::string>();
    if (!id) continue;
    PointMeta meta;
    meta.meter_serial = (*t)["meter_serial"].value_or(std::string());
    if (auto d = (*t)["calibration_valid_until"].value<toml::date>()) {
      meta.calibration_end_ms = (days_from_civil(d->year, d->month, d->day) + 1) * 86'400'000;
      char buf[16];
      std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", d->year, unsigned{d->month}, unsigned{d->day});
      meta.calibration_date = buf;
    }
    points[*id] = std::move(meta);
  }
}

void BundleChecker::on_checkpoints(const std::string& text) {
  have_checkpoints_ = true;
  auto parsed = parse_outside_json(text);
  if (!parsed) return failure("checkpoints", "checkpoints.json: " + parsed.error().message);
  const json& j = *parsed;
  if (!j.is_object() || !j.contains("checkpoints") || !j["checkpoints"].is_array() || !j.contains("left"))
    return failure("checkpoints", "checkpoints.json lacks left or checkpoints");
  // `kind`: what a failure is filed under ("checkpoints"; a later cosigned one's own).
  auto parse_one = [&](const json& c, bool with_right,
                       const std::string& kind = "checkpoints") -> std::optional<CheckpointEntry> {
    if (!c.is_object() || !c.contains("note") || !c["note"].is_string()) return std::nullopt;
    auto parsed = parse_checkpoint(c["note"].get<std::string>());
    if (!parsed) {
      failure(kind, parsed.error().message);
      return std::nullopt;
    }
    CheckpointEntry e{std::move(*parsed), {}, {}, false};
    std::string label = "checkpoint of tree size " + std::to_string(e.checkpoint.tree_size);
    if (e.checkpoint.origin != origin_)
      failure(kind, label + ": origin '" + e.checkpoint.origin + "' is not the bundle's");
    e.signed_ok = e.checkpoint.origin == origin_ &&
                  std::any_of(trusted_.begin(), trusted_.end(),
                              [&](const PublicKey& k) { return verify_checkpoint(e.checkpoint, k); });
    if (!e.signed_ok) failure(kind, label + ": no valid signature of a pinned key");
    auto cosignatures = read_cosignatures(c);
    if (!cosignatures) failure(kind, label + ": " + cosignatures.error().message);
    else e.cosignatures = std::move(*cosignatures);
    if (with_right) {
      if (!c.contains("tree_size") || c["tree_size"] != e.checkpoint.tree_size)
        failure("checkpoints", label + ": tree_size differs from the note's");
      auto right = hashes_from(c.value("right", json::array()));
      if (!right) failure("checkpoints", label + ": right is not a list of hashes");
      else e.right = std::move(*right);
    }
    return e;
  };
  for (const json& c : j["checkpoints"]) {
    auto e = parse_one(c, true);
    if (!e) return failure("checkpoints", "a checkpoint entry is malformed");
    if (!checkpoints_.empty() && e->checkpoint.tree_size <= checkpoints_.back().checkpoint.tree_size)
      failure("checkpoints", "checkpoints are not in strictly increasing tree size");
    checkpoints_.push_back(std::move(*e));
  }
  auto left = hashes_from(j["left"]);
  auto f = left ? MerkleFrontier::from_nodes(claimed_first_ ? claimed_first_ - 1 : 0, *left)
                : Result<MerkleFrontier>(fail(ErrorCode::invalid_argument, "", "left is not a list of hashes"));
  if (!f) failure("tree", "left: " + f.error().message);
  else frontier_ = std::move(*f);
  if (j.contains("since")) {
    since_ = parse_one(j["since"], false);
    auto proof = j["since"].is_object() ? hashes_from(j["since"].value("consistency", json())) : std::nullopt;
    if (!since_ || !proof) failure("since", "since is malformed");
    else since_proof_ = std::move(*proof);
  }
  if (j.contains("cosigned_later")) {
    cosigned_later_ = parse_one(j["cosigned_later"], false, "cosigned_later");
    auto proof = j["cosigned_later"].is_object() ? hashes_from(j["cosigned_later"].value("consistency", json()))
                                                 : std::nullopt;
    if (!cosigned_later_ || !proof) failure("cosigned_later", "cosigned_later is malformed");
    else cosigned_later_proof_ = std::move(*proof);
  }
}

void BundleChecker::push_leaf(const Sha256& leaf) {
  frontier_.push_leaf(leaf);
  compare_checkpoints();
}

void BundleChecker::push_absent_until(uint64_t size) {
  // Whole aligned subtrees of absent leaves (a long skip is cheap), stopping at each
  // checkpoint inside the run to compare its root.
  while (frontier_.size() < size) {
    uint64_t stop = size;
    if (next_checkpoint_ < checkpoints_.size()) {
      uint64_t cp = checkpoints_[next_checkpoint_].checkpoint.tree_size;
      if (cp > frontier_.size() && cp < stop) stop = cp;
    }
    for (SubtreeId t : aligned_subtrees(frontier_.size(), stop))
      (void)frontier_.push_subtree(t.level, merkle_absent_root(t.level));
    compare_checkpoints();
  }
}

void BundleChecker::compare_checkpoints() {
  while (next_checkpoint_ < checkpoints_.size() && checkpoints_[next_checkpoint_].right.empty() &&
         checkpoints_[next_checkpoint_].checkpoint.tree_size <= frontier_.size()) {
    const Checkpoint& c = checkpoints_[next_checkpoint_].checkpoint;
    if (c.tree_size < frontier_.size())
      failure("tree", "checkpoint of tree size " + std::to_string(c.tree_size) + " lies before the bundle's records");
    else if (frontier_.root() != c.root)
      failure("tree", "the records do not give the root of the checkpoint of tree size " +
                          std::to_string(c.tree_size) + " (records changed, added or removed)");
    ++next_checkpoint_;
  }
}

void BundleChecker::metrology(const RecordFields& f) {
  auto cfg = configs_.find(f.config_hash_hex);
  if (cfg == configs_.end()) return;  // a configs failure already
  auto p = cfg->second.find(f.reading.point_id);
  if (p == cfg->second.end()) {
    if (undeclared_.insert(f.reading.point_id).second)
      v_.findings.push_back("point " + f.reading.point_id + " (first at seq " + std::to_string(f.seq) +
                            ") is not declared in its config " + f.config_hash_hex.substr(0, 12));
    return;
  }
  const PointMeta& m = p->second;
  auto [seen, fresh] = serial_seen_.try_emplace(f.reading.point_id, m.meter_serial);
  if (fresh && m.meter_serial.empty())
    v_.findings.push_back("point " + f.reading.point_id + " has no meter_serial: meter identity unknown");
  if (!fresh && seen->second != m.meter_serial) {
    v_.notes.push_back("meter exchange on point " + f.reading.point_id + " at seq " + std::to_string(f.seq) + ": '" +
                       seen->second + "' -> '" + m.meter_serial + "'");
    seen->second = m.meter_serial;
  }
  // A passing calibration recorded at the site (in the report or the range so far) covers
  // the reading, whatever the config's date says.
  if (m.calibration_end_ms && f.reading.ts_ms >= *m.calibration_end_ms &&
      !calibrations_.covers(m.meter_serial, f.reading.ts_ms) && expired_[f.reading.point_id]++ == 0)
    v_.findings.push_back("point " + f.reading.point_id + ": calibration valid until " + m.calibration_date +
                          ", reading at seq " + std::to_string(f.seq) + " is after it");
}

void BundleChecker::on_record(std::string_view line, size_t line_no) {
  std::string where = "records.ndjson line " + std::to_string(line_no);
  if (auto shallow = check_json_limits(line); !shallow) return failure("chain", where + ": " + shallow.error().message);
  auto rl = parse_record_line(line);
  if (!rl) return failure("chain", where + ": not a record line (seq, record, hash, signature)");
  if (auto shallow = check_json_limits(rl->record); !shallow)
    return failure("chain", where + ": its record: " + shallow.error().message);
  uint64_t seq = rl->seq;
  where += " (seq " + std::to_string(seq) + ")";
  if (v_.records == 0) v_.first_seq = seq;
  if (seq <= v_.last_seq && v_.records > 0) return failure("chain", where + ": seq does not increase");
  ++v_.records;
  v_.last_seq = seq;
  auto sig = from_base64(rl->signature_b64);
  if (!sig) return failure("signature", where + ": signature is not base64");
  const std::string& canonical = rl->record;
  auto ok = chain_->check(seq, canonical, rl->hash_hex, *sig);
  if (ok && chain_->pending_key()) {
    signatures_.push_back({chain_->pending_key(), canonical, std::move(*sig), where});
    if (signatures_.size() >= kSignatureBatch) dispatch_signatures();
  }
  if (report_) {  // a tampered record goes into the recomputation as it reads
    if (ok) report_->push(**ok, canonical);
    else if (auto fields = decode_record(canonical)) report_->push(*fields, canonical);
  }
  if (!ok) {
    const std::string& m = ok.error().message;
    bool signature = m.find("signature") != std::string::npos || m.find("key") != std::string::npos ||
                     m.find("alg") != std::string::npos;
    failure(signature ? "signature" : "chain", where + ": " + m);
  }
  if (ok) confirm_start_heads(seq, rl->hash_hex, (**ok).prev_hash_hex);
  // The tree: absent leaves for skipped seqs, then this record's leaf.
  if (seq - 1 < frontier_.size()) return failure("tree", where + ": seq is below the tree's size");
  push_absent_until(seq - 1);
  push_leaf(merkle_leaf_hash(canonical));
  if (!ok) return;
  const RecordFields& f = **ok;
  if (f.site_id != site_) failure("chain", where + ": site '" + f.site_id + "' is not the bundle's");
  if (!configs_.contains(f.config_hash_hex))
    failure("configs", where + ": config " + f.config_hash_hex + " is not in the bundle");
  if (f.reading.quality != Quality::good) {
    ++gaps_expected_count_;
    gaps_expected_.update(json{{"seq", seq}, {"point", f.reading.point_id}, {"ts_ms", f.reading.ts_ms},
                               {"quality", std::string(to_string(f.reading.quality))}, {"reason", f.reading.reason},
                               {"source", f.reading.source}}
                              .dump() + "\n");
  }
  if (f.type == RecordType::reading) metrology(f);
  if (f.type == RecordType::site_record) calibrations_.add(f, v_.findings);
}

void BundleChecker::on_gap(std::string_view line, size_t line_no) {
  auto j = parse_outside_json(line);
  if (!j || !j->is_object())
    return failure("gaps", "gaps.ndjson line " + std::to_string(line_no) + ": " +
                               (j ? std::string("not a JSON object") : j.error().message));
  ++gaps_found_count_;
  gaps_found_.update(j->dump() + "\n");  // re-serialised the same way as the expected list
}

bool BundleChecker::entry(TarGzReader& tar, const std::string& name) {
  // Streams the entry, hashing it, and hands it on whole (small files) or by line.
  bool by_line = name == "records.ndjson" || name == "gaps.ndjson";
  // The quarantine is only hashed: unsigned evidence, any size.
  bool read_whole = name == "manifest.json" || name == "manifest.sig" || name == "keys.json" ||
                    name == "checkpoints.json" || name == "tpm_starts.json" || name == "report.json" ||
                    is_config_name(name);
  size_t max_whole = name == "manifest.sig" ? kMaxManifestSigBytes : kMaxWholeEntryBytes;
  const char* line_kind = name == "records.ndjson" ? "chain" : "gaps";
  Sha256Stream hash;
  uint64_t bytes = 0;
  std::string text, partial;
  size_t line_no = 0;
  auto line = [&](std::string_view l) {
    ++line_no;
    if (name == "records.ndjson") on_record(l, line_no);
    else on_gap(l, line_no);
  };
  auto too_long = [&] {
    failure(line_kind, name + " line " + std::to_string(line_no + 1) + ": longer than " +
                           std::to_string(kMaxLineBytes) + " bytes");
    return false;
  };
  for (;;) {
    auto piece = tar.read();
    if (!piece) {
      failure("manifest", name + ": " + piece.error().message);
      return false;
    }
    if (piece->empty()) break;
    hash.update(*piece);
    bytes += piece->size();
    if (read_whole) {
      if (text.size() + piece->size() > max_whole) {
        failure("manifest", name + ": larger than " + std::to_string(max_whole) + " bytes");
        return false;
      }
      if (whole_bytes_ + piece->size() > kMaxWholeEntriesBytes) {
        failure("manifest", name + ": the entries read whole come to more than " +
                                std::to_string(kMaxWholeEntriesBytes) + " bytes together");
        return false;
      }
      whole_bytes_ += piece->size();
      text.append(*piece);
      continue;
    }
    if (!by_line) continue;
    std::string_view rest = *piece;
    for (size_t nl; (nl = rest.find('\n')) != std::string_view::npos; rest.remove_prefix(nl + 1)) {
      if (partial.size() + nl > kMaxLineBytes) return too_long();
      if (partial.empty()) {
        line(rest.substr(0, nl));
      } else {
        partial.append(rest.substr(0, nl));
        line(partial);
        partial.clear();
      }
    }
    if (partial.size() + rest.size() > kMaxLineBytes) return too_long();  // before holding it
    partial.append(rest);
  }
  if (by_line && !partial.empty()) {  // docs/record-format.md §3.1: every line ends with \n
    failure(line_kind, name + " line " + std::to_string(line_no + 1) + ": the last line does not end with a newline");
    line(partial);
  }
  if (name == "manifest.json") {
    manifest_text_ = std::move(text);
    on_manifest(manifest_text_);
    return have_manifest_;
  }
  if (name == "manifest.sig") {
    manifest_sig_text_ = std::move(text);
    return true;
  }
  auto listed = listed_.find(name);
  bool as_listed = false;
  if (listed == listed_.end()) {
    failure("manifest", name + " is not listed in the manifest");
  } else if (listed->second.first != bytes || listed->second.second != to_hex(hash.finish())) {
    failure("manifest", name + ": size or SHA-256 differs from the manifest");
  } else {
    as_listed = true;
  }
  if (read_whole) {
    if (name == "keys.json") {
      keys_as_listed_ = as_listed;
      on_keys(text);
    } else if (name == "checkpoints.json") on_checkpoints(text);
    else if (name == "tpm_starts.json") on_tpm_starts(text);
    else if (is_config_name(name)) on_config(name, text);
    else if (name == "report.json")
      report_.emplace(text, trusted_, config_texts_, BundleScope{site_, claimed_first_, claimed_last_},
                      [this](const RecordFields& f) { calibrations_.add(f, v_.findings); }, v_);
  }
  return true;
}

void BundleChecker::run(const std::filesystem::path& path) {
  auto tar = TarGzReader::open(path);
  if (!tar) return failure("manifest", tar.error().to_string());
  size_t index = 0;
  int last_rank = -1;
  std::string last_name;
  for (;; ++index) {
    auto next = tar->next();
    if (!next) return failure("manifest", next.error().message);
    if (!*next) break;
    const std::string& name = (*next)->name;
    std::string which = "entry " + std::to_string(index + 1) + " ('" + name + "')";
    if (!(*next)->regular())
      return failure("manifest", which + ": not a regular file (tar type '" + std::string(1, (*next)->type) +
                                     "'); bundles have plain ustar entries, no pax or GNU headers");
    if (seen_[name]) return failure("manifest", which + " appears twice");
    seen_[name] = true;
    if (index == 0 && name != "manifest.json") return failure("manifest", "the first entry is " + name + ", not manifest.json");
    if (index == 1 && name != "manifest.sig") return failure("manifest", "the second entry is " + name + ", not manifest.sig");
    int rank = entry_rank(name);
    if (rank < 0 && name.starts_with("configs/")) failure("configs", name + ": not named configs/<64 hex>.toml");
    else if (rank < 0) failure("manifest", "unexpected entry " + name);
    if (rank >= 0 && (rank < last_rank || (rank == last_rank && rank != kConfigsRank)))
      return failure("manifest", which + " comes after " + last_name +
                                     ": the entries must come in the order of docs/verification.md §4");
    if (rank >= 0) last_rank = rank, last_name = name;
    if (name == "checkpoints.json" && !chain_) return failure("keys", "keys.json must come before checkpoints.json");
    if (name == "report.json" && (!chain_ || !have_checkpoints_))
      return failure("manifest", "keys.json and checkpoints.json must come before report.json");
    if (name == "records.ndjson" && (!chain_ || !have_checkpoints_))
      return failure("manifest", "keys.json and checkpoints.json must come before records.ndjson");
    if (!entry(*tar, name)) return;
  }
  if (index == 0) return failure("manifest", "the bundle is empty");
  finish();
}

// §8.4: the starts' certifications now; their heads as the records go by.
void BundleChecker::on_tpm_starts(const std::string& text) {
  starts_ = check_tpm_starts(text, start_keys_);
  if (starts_->problem.empty())
    for (const auto& [seq, hash] : starts_->heads) unconfirmed_heads_.emplace(seq, hash);
}

// A start's head is this record (its hash), or the record before the first (its prev).
void BundleChecker::confirm_start_heads(uint64_t seq, const std::string& hash_hex, const std::string& prev_hash_hex) {
  if (unconfirmed_heads_.empty() || !starts_ || !starts_->problem.empty()) return;
  auto mismatch = [&](uint64_t head_seq) {
    starts_->problem = "the head_hash of the start at seq " + std::to_string(head_seq) + " is not that record's hash";
  };
  if (v_.records == 1 && seq > 0)
    if (auto it = unconfirmed_heads_.find(seq - 1); it != unconfirmed_heads_.end()) {
      if (it->second != prev_hash_hex) return mismatch(seq - 1);
      unconfirmed_heads_.erase(it);
    }
  if (auto it = unconfirmed_heads_.find(seq); it != unconfirmed_heads_.end()) {
    if (it->second != hash_hex) return mismatch(seq);
    unconfirmed_heads_.erase(it);
  }
}

void BundleChecker::finish() {
  dispatch_signatures();  // the last batch
  dispatch_signatures();  // and its result
  for (const char* name : {"keys.json", "checkpoints.json", "records.ndjson", "gaps.ndjson", "quarantine.ndjson"})
    if (!seen_[name]) failure("manifest", std::string(name) + " is missing");
  if (!manifest_signed_) failure("manifest", "the manifest's signature was never checked (no manifest.sig or keys.json)");
  for (const auto& [name, _] : listed_)
    if (!seen_[name]) failure("manifest", name + " is listed in the manifest but missing");
  if (v_.records != claimed_records_ || v_.first_seq != claimed_first_ || v_.last_seq != claimed_last_)
    failure("chain", "the manifest claims " + std::to_string(claimed_records_) + " records, seq " +
                         std::to_string(claimed_first_) + ".." + std::to_string(claimed_last_) + ", the bundle holds " +
                         std::to_string(v_.records) + ", seq " + std::to_string(v_.first_seq) + ".." +
                         std::to_string(v_.last_seq));
  if (chain_) v_.declared_breaks = chain_->declared_breaks();
  if (starts_) {
    if (starts_->problem.empty() && !unconfirmed_heads_.empty())
      starts_->problem = "the head of the start at seq " + std::to_string(unconfirmed_heads_.begin()->first) +
                         " is not among the bundle's records";
    v_.tpm_starts = starts_->describe();
  } else if (std::any_of(v_.tpm_keys.begin(), v_.tpm_keys.end(),
                         [](const auto& k) { return !k.second.starts_with("not claimed"); })) {
    v_.tpm_starts = "not claimed";
  }
  v_.checkpoints = checkpoints_.size();
  if (v_.records > 0) {
    if (checkpoints_.empty()) {
      failure("tree", "no checkpoint covers the records");
    } else {
      const CheckpointEntry& closing = checkpoints_.back();
      v_.closing_tree_size = closing.checkpoint.tree_size;
      if (closing.checkpoint.tree_size < v_.last_seq) failure("tree", "the last checkpoint does not cover the last record");
      if (next_checkpoint_ + 1 < checkpoints_.size())
        failure("tree", "checkpoint of tree size " + std::to_string(checkpoints_[next_checkpoint_].checkpoint.tree_size) +
                            " was never reached by the records");
      if (next_checkpoint_ + 1 == checkpoints_.size()) {  // the closing one, beyond the records
        MerkleFrontier f = frontier_;
        auto tiles = aligned_subtrees(f.size(), closing.checkpoint.tree_size);
        bool ok = tiles.size() == closing.right.size();
        for (size_t i = 0; ok && i < tiles.size(); ++i) ok = f.push_subtree(tiles[i].level, closing.right[i]);
        if (!ok || f.root() != closing.checkpoint.root)
          failure("tree", "the records and the closing checkpoint's right-hand proof do not give its root "
                          "(tree size " + std::to_string(closing.checkpoint.tree_size) + ")");
      }
    }
  }
  if (since_given_ && !since_) failure("since", "the bundle carries no consistency proof from the given checkpoint");
  if (since_) {
    if (since_given_ && *since_given_ != since_->checkpoint.note)
      failure("since", "the bundle's since checkpoint is not the one given");
    if (checkpoints_.empty()) {
      failure("since", "no closing checkpoint to prove consistency with");
    } else {
      const Checkpoint& old = since_->checkpoint;
      const Checkpoint& closing = checkpoints_.back().checkpoint;
      if (!merkle_verify_consistency(old.tree_size, closing.tree_size, old.root, closing.root, since_proof_))
        failure("since", "the checkpoint of tree size " + std::to_string(old.tree_size) +
                             " is not consistent with the closing checkpoint of tree size " +
                             std::to_string(closing.tree_size) + " (a forked or rewritten history)");
    }
  }
  check_cosignatures();
  if (gaps_found_count_ != gaps_expected_count_ || gaps_found_.finish() != gaps_expected_.finish())
    failure("gaps", "gaps.ndjson (" + std::to_string(gaps_found_count_) + " lines) is not the list of the " +
                        std::to_string(gaps_expected_count_) + " records whose quality is not good");
  if (report_) {
    std::vector<std::string> notes;
    for (const CheckpointEntry& c : checkpoints_) notes.push_back(c.checkpoint.note);
    report_->finish(notes);
  }
  for (const auto& [point, n] : expired_)
    if (n > 1) v_.findings.push_back("point " + point + ": " + std::to_string(n) + " readings after calibration expiry");
}

// The registry's cosignatures (§3.1): each one of a pinned registry key must verify; what
// they show is information, unless the verifier requires the closing tree cosigned.
void BundleChecker::check_cosignatures() {
  std::optional<std::string> bad;
  size_t cosigned = 0, listed = 0;
  for (const CheckpointEntry& c : checkpoints_) {
    listed += c.cosignatures.size();
    std::optional<std::string> bad_here;
    if (registry_cosignature(c.cosignatures, c.checkpoint.note, registry_keys_, bad_here)) ++cosigned;
    if (bad_here && !bad)
      bad = "checkpoint of tree size " + std::to_string(c.checkpoint.tree_size) + ": " + *bad_here;
  }
  std::optional<RegistryCosignature> later;
  if (cosigned_later_) {
    const Checkpoint& l = cosigned_later_->checkpoint;
    listed += cosigned_later_->cosignatures.size();
    std::optional<std::string> bad_here;
    auto found = registry_cosignature(cosigned_later_->cosignatures, l.note, registry_keys_, bad_here);
    if (bad_here && !bad) bad = "the later checkpoint of tree size " + std::to_string(l.tree_size) + ": " + *bad_here;
    if (checkpoints_.empty()) {
      failure("cosigned_later", "no closing checkpoint to prove consistency with");
    } else {
      const Checkpoint& closing = checkpoints_.back().checkpoint;
      bool consistent = l.tree_size > closing.tree_size &&
                        merkle_verify_consistency(closing.tree_size, l.tree_size, closing.root, l.root,
                                                  cosigned_later_proof_);
      if (!consistent)
        failure("cosigned_later", "the later checkpoint of tree size " + std::to_string(l.tree_size) +
                                      " is not consistent with the closing checkpoint of tree size " +
                                      std::to_string(closing.tree_size));
      if (consistent && cosigned_later_->signed_ok) later = std::move(found);  // only a proven one counts
    }
  }
  if (bad) failure("cosignature", *bad);
  if (registry_keys_.empty()) {
    if (listed > 0) v_.cosigned = "not checked (give the registry's key with --registry-key)";
    return;
  }
  std::string count = std::to_string(cosigned) + " of " + std::to_string(checkpoints_.size()) + " checkpoints";
  std::optional<std::string> ignored;
  std::optional<RegistryCosignature> closing;
  if (!checkpoints_.empty())
    closing = registry_cosignature(checkpoints_.back().cosignatures, checkpoints_.back().checkpoint.note,
                                   registry_keys_, ignored);
  if (closing) {
    v_.cosigned = "the closing checkpoint (tree size " + std::to_string(checkpoints_.back().checkpoint.tree_size) +
                  ") by " + describe_cosignature(*closing) + "; " + count;
  } else if (later) {
    v_.cosigned = "a later checkpoint (tree size " + std::to_string(cosigned_later_->checkpoint.tree_size) +
                  "), consistent with the closing one (tree size " +
                  std::to_string(checkpoints_.back().checkpoint.tree_size) + "), by " + describe_cosignature(*later) +
                  "; " + count;
  } else {
    v_.cosigned = "not cosigned (" + count + ")";
    if (require_cosigned_)
      failure("cosignature", "neither the closing checkpoint nor a later one consistent with it is cosigned by a "
                             "given --registry-key");
  }
}

std::string iso_join(const std::vector<std::string>& items, const char* prefix) {
  std::string out;
  for (const auto& s : items) out += prefix + s + "\n";
  return out;
}

}  // namespace

int BundleVerdict::exit_code() const {
  if (!failures.empty()) return 1;
  if (!declared_breaks.empty()) return 3;
  if (!findings.empty()) return 4;
  return 0;
}

std::string BundleVerdict::verdict() const {
  switch (exit_code()) {
    case 0: return "VALID";
    case 3: return "VALID WITH DECLARED BREAKS";
    case 4: return "VALID WITH METROLOGY FINDINGS";
    default: return "INVALID";
  }
}

std::string BundleVerdict::to_json() const {
  return json{{"verdict", verdict()},
              {"exit_code", exit_code()},
              {"records", records},
              {"first_seq", first_seq},
              {"last_seq", last_seq},
              {"checkpoints", checkpoints},
              {"closing_tree_size", closing_tree_size},
              {"failures", failures},
              {"declared_breaks", declared_breaks},
              {"findings", findings},
              {"notes", notes},
              {"tpm", tpm_keys},
              {"tpm_starts", tpm_starts},
              {"cosigned", cosigned}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string BundleVerdict::to_text() const {
  std::string out;
  for (const auto& [kind, message] : failures) out += "FAILED [" + kind + "] " + message + "\n";
  out += iso_join(declared_breaks, "DECLARED CHAIN BREAK: ");
  out += iso_join(findings, "FINDING: ");
  out += iso_join(notes, "NOTE: ");
  for (const auto& [key_id, claim] : tpm_keys) out += "key " + key_id + " held in a TPM: " + claim + "\n";
  if (!tpm_starts.empty()) out += "starts bound to the TPM's counter: " + tpm_starts + "\n";
  if (!cosigned.empty()) out += "cosigned by the registry: " + cosigned + "\n";
  out += std::to_string(records) + " records, seq " + std::to_string(first_seq) + ".." + std::to_string(last_seq) +
         ", " + std::to_string(checkpoints) + " checkpoints, closing tree size " + std::to_string(closing_tree_size) +
         "\nVERDICT: " + verdict() + "\n";
  return out;
}

BundleVerdict verify_bundle(const std::filesystem::path& bundle, std::span<const PublicKey> pinned,
                            const std::optional<std::string>& since_checkpoint,
                            std::span<const PublicKey> registry_keys, std::string_view tpm_ca_pem,
                            bool require_cosigned) {
  BundleVerdict v;
  BundleChecker checker(pinned, since_checkpoint, v, registry_keys, require_cosigned);
  checker.tpm_ca_pem = std::string(tpm_ca_pem);
  checker.run(bundle);
  return v;
}

bool looks_like_bundle(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  char magic[2] = {};
  in.read(magic, 2);
  return in.gcount() == 2 && static_cast<unsigned char>(magic[0]) == 0x1f && static_cast<unsigned char>(magic[1]) == 0x8b;
}

}  // namespace mrv::evidence
