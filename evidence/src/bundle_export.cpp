// write_bundle: docs/verification.md §4.
#include <algorithm>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "mrv/evidence/bundle.hpp"
#include "mrv/evidence/export_file.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/evidence/tar_gz.hpp"
#include "bundle_cosignatures.hpp"

namespace mrv::evidence {
namespace {

using nlohmann::json;

std::string hex_of(const Sha256& h) { return to_hex(h); }

Result<json> tile_roots(Journal& journal, uint64_t begin, uint64_t end) {
  json out = json::array();
  NodeSource nodes = journal.tree_nodes();
  for (SubtreeId id : aligned_subtrees(begin, end)) {
    auto h = nodes(id);
    if (!h) return tl::unexpected(h.error());
    out.push_back(hex_of(*h));
  }
  return out;
}

// A file being staged for the archive, with its SHA-256 computed as it is written.
struct StagedFile {
  std::string name;
  std::string data;  // in memory, or
  std::filesystem::path path;  // on disk (records and gaps: they grow with the range)
  uint64_t bytes = 0;
  std::string sha256_hex;
};

StagedFile in_memory(std::string name, std::string data) {
  StagedFile f{std::move(name), std::move(data), {}, 0, {}};
  f.bytes = f.data.size();
  f.sha256_hex = to_hex(sha256(f.data));
  return f;
}

// Lines appended to a temporary file beside the bundle, hashed on the way; the file is
// removed when the Stage goes.
class Stage {
 public:
  Stage(std::string name, std::filesystem::path path)
      : staged_{std::move(name), {}, std::move(path), 0, {}}, file_(staged_.path, std::ios::binary | std::ios::trunc) {}
  ~Stage() {
    std::error_code ec;
    std::filesystem::remove(staged_.path, ec);
  }
  void append(std::string_view line) {
    file_.write(line.data(), static_cast<std::streamsize>(line.size()));
    hash_.update(line);
    staged_.bytes += line.size();
  }
  Result<StagedFile> finish() {
    file_.close();
    if (!file_) return fail(ErrorCode::io, staged_.path.string(), "write failed (disk full?)");
    staged_.sha256_hex = to_hex(hash_.finish());
    return staged_;
  }

 private:
  StagedFile staged_;
  std::ofstream file_;
  Sha256Stream hash_;
};

struct Contents {
  BundleSummary summary;
  json keys = json::array(), checkpoints;
  std::set<std::string> config_hashes;
};

// A checkpoint's cosignatures as a bundle lists them: at most the verifiers' limit.
json listed_cosignatures(const StoredCheckpoint& c) {
  size_t n = std::min(c.cosignatures.size(), kMaxCosignaturesPerCheckpoint);
  return std::vector<std::string>(c.cosignatures.begin(), c.cosignatures.begin() + static_cast<std::ptrdiff_t>(n));
}

// The first cosigned checkpoint after an uncosigned closing one, with the consistency
// proof from the closing checkpoint to it (§4.3): the registry held a tree that extends
// the bundle's. Null when there is none.
Result<json> cosigned_later(Journal& journal, const Checkpoint& closing) {
  auto later = journal.first_cosigned_checkpoint(closing.tree_size + 1);
  if (!later) return tl::unexpected(later.error());
  if (!*later) return json();
  const StoredCheckpoint& c = **later;
  auto proof = merkle_consistency_proof(journal.tree_nodes(), closing.tree_size, c.checkpoint.tree_size);
  if (!proof) return tl::unexpected(proof.error());
  json hashes = json::array();
  for (const Sha256& h : *proof) hashes.push_back(hex_of(h));
  return json{{"note", c.checkpoint.note}, {"cosignatures", listed_cosignatures(c)},
              {"consistency", std::move(hashes)}};
}

// The checkpoints and proofs of §4.3, from the journal's snapshot.
Result<json> checkpoints_json(Journal& journal, BundleSummary& summary,
                              const std::optional<std::string>& since_note) {
  json out = {{"checkpoints", json::array()}};
  auto left = tile_roots(journal, 0, summary.first_seq - 1);
  if (!left) return tl::unexpected(left.error());
  out["left"] = std::move(*left);
  auto in_range = journal.checkpoints(summary.first_seq, summary.last_seq);
  if (!in_range) return tl::unexpected(in_range.error());
  if (in_range->empty() || in_range->back().checkpoint.tree_size != summary.last_seq) {
    auto after = journal.checkpoints(summary.last_seq + 1, UINT64_MAX);
    if (!after) return tl::unexpected(after.error());
    if (after->empty())
      return fail(ErrorCode::busy, "export",
                  "no checkpoint covers seq " + std::to_string(summary.last_seq) +
                      " yet: the running agent signs one within its checkpoint interval "
                      "(signing.checkpoint_interval_ms) and at stop; export again after that");
    in_range->push_back(std::move(after->front()));
  }
  const Checkpoint& closing = in_range->back().checkpoint;
  summary.closing_tree_size = closing.tree_size;
  summary.checkpoints = in_range->size();
  for (size_t i = 0; i < in_range->size(); ++i) {
    const StoredCheckpoint& c = (*in_range)[i];
    json right = json::array();
    if (i + 1 == in_range->size()) {
      auto r = tile_roots(journal, summary.last_seq, c.checkpoint.tree_size);
      if (!r) return tl::unexpected(r.error());
      right = std::move(*r);
    }
    json entry = {{"tree_size", c.checkpoint.tree_size}, {"reason", c.reason}, {"note", c.checkpoint.note},
                  {"right", std::move(right)}};
    if (!c.cosignatures.empty()) entry["cosignatures"] = listed_cosignatures(c);
    out["checkpoints"].push_back(std::move(entry));
  }
  if (in_range->back().cosignatures.empty()) {
    auto later = cosigned_later(journal, closing);
    if (!later) return tl::unexpected(later.error());
    if (!later->is_null()) out["cosigned_later"] = std::move(*later);
  }
  if (since_note) {
    auto since = parse_checkpoint(*since_note);
    if (!since) return fail(ErrorCode::invalid_argument, "--since-checkpoint", since.error().message);
    if (since->tree_size == 0 || since->tree_size > closing.tree_size)
      return fail(ErrorCode::invalid_argument, "--since-checkpoint",
                  "its tree size " + std::to_string(since->tree_size) +
                      " is not between 1 and the closing checkpoint's " + std::to_string(closing.tree_size));
    auto ours = merkle_range_root(journal.tree_nodes(), 0, since->tree_size);
    if (!ours) return tl::unexpected(ours.error());
    if (*ours != since->root)
      return fail(ErrorCode::corruption, "--since-checkpoint",
                  "its root differs from this journal's tree at size " + std::to_string(since->tree_size) +
                      ": that checkpoint is not from this journal's history");
    auto proof = merkle_consistency_proof(journal.tree_nodes(), since->tree_size, closing.tree_size);
    if (!proof) return tl::unexpected(proof.error());
    json hashes = json::array();
    for (const Sha256& h : *proof) hashes.push_back(hex_of(h));
    out["since"] = {{"note", *since_note}, {"consistency", std::move(hashes)}};
  }
  return out;
}

// Stages records.ndjson and gaps.ndjson and collects the config hashes, in one pass.
Result<void> stage_records(Journal& journal, Contents& c, const BundleRequest& request, Stage& records,
                           Stage& gaps) {
  uint64_t total = c.summary.last_seq - c.summary.first_seq + 1;
  std::string line;
  Result<void> bad;
  auto done = journal.for_each_record(c.summary.first_seq, c.summary.last_seq, [&](const StoredRecord& rec) {
    line.clear();
      append_record_line(line, rec.seq, rec.canonical, rec.hash, rec.signature);
    records.append(line);
    ++c.summary.records;
    auto f = decode_record(rec.canonical);
    if (!f) {
      if (bad) bad = fail(ErrorCode::corruption, "record " + std::to_string(rec.seq), f.error().message);
      return;
    }
    c.config_hashes.insert(f->config_hash_hex);
    if (f->reading.quality != Quality::good)
      gaps.append(json{{"seq", rec.seq}, {"point", f->reading.point_id}, {"ts_ms", f->reading.ts_ms},
                       {"quality", std::string(to_string(f->reading.quality))}, {"reason", f->reading.reason},
                       {"source", f->reading.source}}
                      .dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
    if (request.progress && c.summary.records % 10'000 == 0) request.progress(c.summary.records, total);
  });
  if (!done) return done;
  if (!bad) return bad;
  if (request.progress) request.progress(c.summary.records, total);
  return {};
}

}  // namespace

Result<BundleSummary> write_bundle(Journal& journal, const std::string& site_id, const BundleRequest& request) {
  if (!request.signer) return fail(ErrorCode::invalid_argument, "export", "a bundle needs the agent's signing key");
  Contents c;
  std::vector<StagedFile> files;
  Stage records("records.ndjson", request.out.string() + ".records.tmp");
  Stage gaps("gaps.ndjson", request.out.string() + ".gaps.tmp");
  // One snapshot: the running agent may commit or prune while we read.
  auto read = journal.read_snapshot([&]() -> Result<void> {
    auto range = journal.seq_range_for_time(request.from_ms, request.to_ms);
    if (!range) return tl::unexpected(range.error());
    auto keys = journal.public_keys();
    if (!keys) return tl::unexpected(keys.error());
    bool signer_listed = false;
    for (const auto& k : *keys) {
      c.keys.push_back({{"key_id", k.key_id_hex}, {"algorithm", k.algorithm},
                        {"public_key_pem", k.pem}, {"first_used_ms", k.first_used_ms}});
      signer_listed |= k.key_id_hex == request.signer->key_id_hex();
    }
    if (!signer_listed && !request.registry_signer)  // a new key the agent has not run with yet
      c.keys.push_back({{"key_id", request.signer->key_id_hex()},
                        {"algorithm", std::string(to_string(request.signer->algorithm()))},
                        {"public_key_pem", request.signer->public_pem()}, {"first_used_ms", utc_now_ms()}});
    for (json& k : c.keys)
      if (auto it = request.tpm_statements.find(k["key_id"].get<std::string>()); it != request.tpm_statements.end()) {
        json statement = json::parse(it->second, nullptr, false);
        if (statement.is_object()) k["tpm"] = std::move(statement);
        auto activated = request.tpm_activations.find(it->first);
        if (request.registry_signer && activated != request.tpm_activations.end())
          k["tpm_activation"] = {{"registry_key_id", request.signer->key_id_hex()},
                                 {"activated_at", format_utc_ms(activated->second)}};
      }
    c.checkpoints = {{"left", json::array()}, {"checkpoints", json::array()}};
    if (*range && request.max_seq && (*range)->second > request.max_seq) {
      // Only what a held checkpoint covers (a registry: the site's newest one it has).
      if ((*range)->first > request.max_seq) range->reset();
      else (*range)->second = request.max_seq;
    }
    if (request.reach_seq) {
      if (request.reach_seq > journal.last_seq())
        return fail(ErrorCode::invalid_argument, "export",
                    "the report's records reach seq " + std::to_string(request.reach_seq) + ", beyond this journal's "
                    "last record " + std::to_string(journal.last_seq()) + ": is it this site's report?");
      if (!*range) *range = std::pair{request.reach_seq, request.reach_seq};
      else (*range)->second = std::max((*range)->second, request.reach_seq);
    }
    if (*range) {
      c.summary.first_seq = (*range)->first;
      c.summary.last_seq = (*range)->second;
      auto cps = checkpoints_json(journal, c.summary, request.since_checkpoint);
      if (!cps) return tl::unexpected(cps.error());
      c.checkpoints = std::move(*cps);
      if (auto r = stage_records(journal, c, request, records, gaps); !r) return r;
    } else if (request.since_checkpoint) {
      return fail(ErrorCode::invalid_argument, "--since-checkpoint", "no records in the range to prove against");
    }
    files.push_back(in_memory("keys.json", c.keys.dump() + "\n"));
    for (const std::string& hash : c.config_hashes) {
      auto text = journal.config_text(hash);
      if (!text) return tl::unexpected(text.error());
      if (!*text) return fail(ErrorCode::not_found, "journal", "config " + hash + " is not kept");
      files.push_back(in_memory("configs/" + hash + ".toml", std::move(**text)));
    }
    files.push_back(in_memory("checkpoints.json", c.checkpoints.dump() + "\n"));
    if (*range) {  // the starts whose head is in the range or just before it (§8.4)
      auto starts = journal.tpm_starts(c.summary.first_seq - 1, c.summary.last_seq);
      if (!starts) return tl::unexpected(starts.error());
      json list = json::array();
      for (const TpmStart& s : *starts) {
        json entry = json::parse(s.entry, nullptr, false);
        if (!entry.is_object())
          return fail(ErrorCode::corruption, "journal",
                      "TPM start " + std::to_string(s.counter) + " is not a JSON object");
        list.push_back(std::move(entry));
      }
      if (!list.empty()) files.push_back(in_memory("tpm_starts.json", list.dump() + "\n"));
    }
    if (request.report_json) files.push_back(in_memory("report.json", *request.report_json));
    return {};
  });
  if (!read) return tl::unexpected(read.error());
  auto quarantine = journal.quarantine(request.from_ms, request.to_ms, SIZE_MAX >> 1);
  if (!quarantine) return tl::unexpected(quarantine.error());
  std::string quarantine_lines;
  for (const auto& q : *quarantine) quarantine_lines += quarantine_line(q);
  for (Stage* stage : {&records, &gaps}) {
    auto staged = stage->finish();
    if (!staged) return tl::unexpected(staged.error());
    files.push_back(std::move(*staged));
  }
  files.push_back(in_memory("quarantine.ndjson", std::move(quarantine_lines)));

  int64_t now = utc_now_ms();
  json manifest = {{"format", "mrv-bundle/1"}, {"site", site_id}, {"origin", checkpoint_origin(site_id)},
                   {"from_ms", request.from_ms}, {"to_ms", request.to_ms},
                   {"first_seq", c.summary.first_seq}, {"last_seq", c.summary.last_seq},
                   {"records", c.summary.records}, {"created_ms", now}, {"files", json::array()}};
  for (const StagedFile& f : files)
    manifest["files"].push_back({{"name", f.name}, {"bytes", f.bytes}, {"sha256", f.sha256_hex}});

  // The manifest's claims (site, range, seqs, file hashes) are signed by the agent's key.
  std::string manifest_text = manifest.dump() + "\n";
  auto manifest_sig = request.signer->sign(manifest_text);
  if (!manifest_sig) return tl::unexpected(manifest_sig.error());
  json signature = {{"key_id", request.signer->key_id_hex()}, {"signature", to_base64(*manifest_sig)}};
  if (request.registry_signer) signature["signer"] = "registry";
  std::filesystem::path tmp = request.out.string() + ".tmp";
  auto written = [&]() -> Result<void> {
    auto tar = TarGzWriter::create(tmp, now / 1000);
    if (!tar) return tl::unexpected(tar.error());
    if (auto r = tar->add("manifest.json", manifest_text); !r) return r;
    if (auto r = tar->add("manifest.sig", signature.dump() + "\n"); !r) return r;
    for (const StagedFile& f : files) {
      auto r = f.path.empty() ? tar->add(f.name, f.data) : tar->add_file(f.name, f.path);
      if (!r) return r;
    }
    return tar->close();
  }();
  std::error_code ec;
  if (!written) {
    std::filesystem::remove(tmp, ec);
    return tl::unexpected(written.error());
  }
  std::filesystem::rename(tmp, request.out, ec);
  if (ec) return fail(ErrorCode::io, request.out.string(), ec.message());
  return c.summary;
}

}  // namespace mrv::evidence
