#include "mrv/registry/site_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/chain_verifier.hpp"
#include "mrv/core/checkpoint.hpp"
#include "mrv/registry/cosigner.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/gzip.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/core/log.hpp"
#include "mrv/registry/registry_config.hpp"
#include "mrv/report/json.hpp"
#include "store_answers.hpp"
#include "unproven_store.hpp"
#include "verify_pool.hpp"

namespace mrv::registry {

using json = nlohmann::json;

std::string Refusal::to_json() const {
  json j = {{"error", error}, {"check", check}, {"message", message}};
  if (seq) j["seq"] = *seq;
  if (held_through) j["held_through"] = *held_through;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

// Before ids were escaped, '/' and ':' both became '_' (so "a/b" and "a_b" shared a
// file). Such a file is moved to its escaped name when its records are this site's.
void adopt_legacy_file(const std::filesystem::path& dir, const std::string& site_id, const std::filesystem::path& path) {
  if (site_id.find_first_of("/:") == std::string::npos || std::filesystem::exists(path)) return;
  std::string legacy_name;
  for (char c : site_id) legacy_name += (c == '/' || c == ':') ? '_' : c;
  auto legacy = dir / (legacy_name + ".db");
  if (!std::filesystem::exists(legacy)) return;
  std::string owner;
  if (auto j = Journal::open_read_only(legacy)) {
    if (auto newest = j->record(j->last_seq()); newest && *newest)
      if (auto f = decode_record((*newest)->canonical)) owner = f->site_id;
  }
  if (owner != site_id) {
    log::warning("registry: " + legacy.string() + " (an older file name) is not site '" + site_id + "'s: left alone");
    return;
  }
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", ".head", ".reports", ".tpm"})
    if (std::filesystem::exists(legacy.string() + suffix))
      std::filesystem::rename(legacy.string() + suffix, path.string() + suffix, ec);
  log::notice("registry: site '" + site_id + "': " + legacy.string() + " renamed to " + path.string());
}

}  // namespace

Result<std::unique_ptr<SiteStore>> SiteStore::open(const std::filesystem::path& data_dir, std::string site_id,
                                                   SiteOptions options, VerifyPool& pool) {
  auto dir = data_dir / "sites";
  auto path = dir / site_file_name(site_id);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  adopt_legacy_file(dir, site_id, path);
  auto journal = Journal::open_mirror(path);
  if (!journal) return tl::unexpected(journal.error());
  auto unproven = UnprovenStore::open(path.string() + ".unproven");
  if (!unproven) return tl::unexpected(unproven.error());
  // What a crash left between proving records and dropping them here.
  if (auto r = unproven->drop_through(journal->last_seq()); !r) return tl::unexpected(r.error());
  auto infos = journal->public_keys();
  if (!infos) return tl::unexpected(infos.error());
  std::vector<PublicKey> keys;
  for (const auto& k : *infos)
    if (auto key = PublicKey::from_pem(k.pem)) keys.push_back(std::move(*key));
  std::unique_ptr<SiteStore> store(new SiteStore(std::move(site_id), path, std::move(*journal),
                                                 std::make_unique<UnprovenStore>(std::move(*unproven)),
                                                 std::move(keys), std::move(options), pool));
  for (const auto& d : {store->reports_dir_, store->tpm_dir_}) {
    std::filesystem::create_directories(d, ec);
    if (ec) return fail(ErrorCode::io, d.string(), ec.message());
  }
  if (auto r = store->attach_shared(); !r) return tl::unexpected(r.error());
  return store;
}

Answer<std::string> SiteStore::add_config(std::string_view hash_hex, std::string_view text) {
  if (to_hex(sha256(text)) != hash_hex)
    return refuse(400, "malformed", "format", "the config's SHA-256 is not " + std::string(hash_hex));
  std::lock_guard lock(mutex_);
  return write_locked([&] { return add_config_locked(hash_hex, text); });
}

Answer<std::string> SiteStore::add_config_locked(std::string_view hash_hex, std::string_view text) {
  auto held = journal_.configs();  // a handful: one per config the site ran under
  if (!held) return storage_failure(held.error());
  if (std::none_of(held->begin(), held->end(), [&](const auto& c) { return c.first == hash_hex; })) {
    if (auto r = log_write("config", std::string(text), std::string(hash_hex)); !r) return tl::unexpected(r.error());
    if (auto r = journal_.add_config(std::string(hash_hex), text); !r) return storage_failure(r.error());
  }
  return json{{"site", site_id_}, {"config_sha256", hash_hex}}.dump();
}

namespace {

std::string receipt_of(const std::string& site, const std::vector<RecordLine>& lines) {
  return json{{"site", site}, {"first_seq", lines.front().seq}, {"last_seq", lines.back().seq},
              {"records", lines.size()}, {"last_hash", lines.back().hash_hex}}
      .dump();
}

// hash: the 32 raw bytes.
bool same_record(const RecordLine& line, std::string_view hash, std::string_view signature) {
  return line.hash_hex == to_hex(hash) && line.signature_b64 == to_base64(signature);
}

}  // namespace

Answer<std::string> SiteStore::post_records(std::string_view body, bool gzip) {
  if (body.size() > options_.limits.max_body_bytes)
    return refuse(413, "too_large", "size", "body of " + std::to_string(body.size()) + " bytes is over " +
                                                std::to_string(options_.limits.max_body_bytes));
  std::string inflated;
  if (gzip) {
    auto text = gzip_decompress(body, options_.limits.max_body_bytes * 4);
    if (!text) {
      bool big = text.error().message.starts_with("inflates");
      return refuse(big ? 413 : 400, big ? "too_large" : "malformed", big ? "size" : "format",
                    "gzip body: " + text.error().message);
    }
    inflated = std::move(*text);
    body = inflated;
  }
  auto lines = parse_lines(body, options_.limits);
  if (!lines) return tl::unexpected(lines.error());
  std::lock_guard lock(mutex_);
  return write_locked([&] { return post_lines_locked(*lines); });
}

Answer<std::vector<RecordLine>> SiteStore::parse_lines(std::string_view body, const StoreLimits& limits) {
  // 1. Every line parses and seqs increase.
  std::vector<RecordLine> lines;
  for (size_t pos = 0, n = 1; pos < body.size(); ++n) {
    size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::string_view line = body.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    if (lines.size() == limits.max_batch_records)
      return refuse(413, "too_large", "size", "more than " + std::to_string(limits.max_batch_records) + " records");
    auto rl = parse_record_line(line);
    if (!rl) return refuse(400, "malformed", "format", "line " + std::to_string(n) + " is not a record line");
    if (!lines.empty() && rl->seq <= lines.back().seq)
      return refuse(400, "malformed", "seq", "line " + std::to_string(n) + ": seqs must increase", rl->seq);
    lines.push_back(std::move(*rl));
  }
  if (lines.empty()) return refuse(400, "malformed", "format", "no record lines");
  return lines;
}

Answer<std::string> SiteStore::post_lines_locked(std::vector<RecordLine>& lines) {
  uint64_t held = journal_.last_seq();
  // 2. What the registry holds already must be byte-identical (a resend).
  size_t fresh = 0;
  if (lines.front().seq <= held) {
    uint64_t last_old = std::min(held, lines.back().seq);
    std::optional<Refusal> conflict;
    size_t i = 0;
    auto read = journal_.for_each_record(lines.front().seq, last_old, [&](const StoredRecord& rec) {
      while (i < lines.size() && lines[i].seq < rec.seq) {  // a seq sent that is not held
        if (!conflict) conflict = refuse(409, "conflict", "seq", "the registry holds no record here", lines[i].seq).value();
        ++i;
      }
      if (i == lines.size() || lines[i].seq != rec.seq) return;
      if (!conflict && !same_record(lines[i], rec.hash, rec.signature))
        conflict = refuse(409, "conflict", "seq", "differs from the record the registry holds", rec.seq).value();
      ++i;
    });
    if (!read) return storage_failure(read.error());
    for (; i < lines.size() && lines[i].seq <= last_old; ++i)
      if (!conflict) conflict = refuse(409, "conflict", "seq", "the registry holds no record here", lines[i].seq).value();
    if (conflict) return tl::unexpected(*conflict);
    fresh = i;
  }
  if (fresh == lines.size()) return receipt_of(site_id_, lines);
  // 3. Unproven records (checkpoint-only) are not held: lines identical to them are a
  // resend; from the first line that differs, the batch replaces them.
  auto top = unproven_->last();
  if (!top) return storage_failure(top.error());
  uint64_t base_seq = held;
  std::string base_hash = journal_.last_hash_hex();
  size_t first_new = fresh;
  if (*top && lines[fresh].seq <= (*top)->seq) {
    auto before = unproven_->last(lines[fresh].seq);
    if (!before) return storage_failure(before.error());
    if (*before) base_seq = (*before)->seq, base_hash = (*before)->hash_hex;
    bool diverged = false;
    auto read = unproven_->for_each(lines[fresh].seq, std::min((*top)->seq, lines.back().seq), [&](MirrorRecord&& m) {
      if (diverged || first_new == lines.size()) return;
      if (m.seq != lines[first_new].seq || !same_record(lines[first_new], raw(m.hash), m.signature)) {
        diverged = true;
        return;
      }
      base_seq = m.seq;
      base_hash = to_hex(m.hash);
      ++first_new;
    });
    if (!read) return storage_failure(read.error());
    if (first_new == lines.size()) return receipt_of(site_id_, lines);
  } else if (*top) {
    base_seq = (*top)->seq;
    base_hash = (*top)->hash_hex;
  }
  return store_new_records(lines, first_new, base_seq, base_hash);
}

// 4. The new records: contiguous with the record before them (or a declared break),
// then every record check of docs/record-format.md §4, continued from it.
Answer<std::string> SiteStore::store_new_records(std::vector<RecordLine>& lines, size_t first_new, uint64_t base_seq,
                                                 const std::string& base_hash) {
  uint64_t held = journal_.last_seq();
  std::vector<MirrorRecord> records;
  std::vector<std::pair<size_t, const PublicKey*>> signed_records;  // (index in records, key)
  records.reserve(lines.size() - first_new);
  ChainVerifier chain(keys_);
  chain.defer_signatures(true);
  chain.resume(base_seq, base_hash);
  size_t first_unsigned = SIZE_MAX;
  for (size_t i = first_new; i < lines.size(); ++i) {
    RecordLine& l = lines[i];
    auto sig = from_base64(l.signature_b64);
    if (!sig) return refuse(400, "malformed", "format", "the signature is not base64", l.seq);
    auto f = chain.check(l.seq, l.record, l.hash_hex, *sig);
    if (!f) {
      const std::string& why = f.error().message;
      // A batch that does not continue what is held: a gap after the held records, or any
      // break in the link to unproven records (which another credential holder may have
      // sent). The agent resends from held_through + 1, and its records replace those.
      bool unlinked = why.starts_with("sequence gap") || why.starts_with("prev does not match");
      if (i == first_new && unlinked && (l.seq != base_seq + 1 || base_seq > held)) {
        Refusal r{409, "gap", "seq", "seq " + std::to_string(l.seq) + ": the registry holds through seq " +
                                         std::to_string(held) + "; send from seq " + std::to_string(held + 1),
                  l.seq, held};
        return tl::unexpected(r);
      }
      if (why.find("not a pinned key") != std::string::npos)
        return refuse(422, "unknown_key", "key", why.substr(0, why.find(", not")) + ", not a key registered for the site", l.seq);
      if (why == "bad signature") return refuse(422, "bad_signature", "signature", why, l.seq);
      bool format = why.starts_with("record:");
      return refuse(422, format ? "bad_record" : "chain", format ? "format" : "chain", why, l.seq);
    }
    if ((*f)->site_id != site_id_)
      return refuse(422, "wrong_site", "site", "a record of site '" + (*f)->site_id + "'", l.seq);
    if (const PublicKey* key = chain.pending_key(); key && !revoked_from_.empty() && !replaying_)
      if (auto from = revoked_from(key->key_id_hex()); from && l.seq >= *from)
        return refuse(422, "key_revoked", "key",
                      "key " + key->key_id_hex() + " is revoked from seq " + std::to_string(*from), l.seq);
    if (!chain.pending_key()) {  // no signature of its own
      if (!options_.checkpoint_only)
        return refuse(422, "bad_signature", "signature",
                      "a record without a signature of its own (alg \"checkpoint\"): site '" + site_id_ +
                          "' is not configured for checkpoint-only signing",
                      l.seq);
      first_unsigned = std::min(first_unsigned, records.size());
    } else {
      signed_records.emplace_back(records.size(), chain.pending_key());
    }
    MirrorRecord& m = records.emplace_back();
    m.seq = l.seq;
    m.canonical = std::move(l.record);
    m.signature = std::move(*sig);
    auto hash = from_hex(l.hash_hex);
    std::copy(hash->begin(), hash->end(), m.hash.begin());  // checked by the chain verifier
    m.point = (*f)->reading.point_id;
    m.source = (*f)->reading.source;
    m.value = (*f)->reading.value;
    m.ts_ms = (*f)->reading.ts_ms;
  }
  // Every signature is checked, whether its record is proven now or later (a replay's
  // were, by the process that accepted them). The views are taken once `records` no
  // longer moves.
  if (!replaying_) {
    std::vector<VerifyPool::Job> jobs;
    jobs.reserve(signed_records.size());
    for (auto [index, key] : signed_records)
      jobs.push_back({key, records[index].canonical, records[index].signature, &records[index].hash});
    if (auto bad = pool_.verify(jobs))
      return refuse(422, "bad_signature", "signature", "bad signature", records[signed_records[*bad].first].seq);
  }

  // Proven now: the signed records right after the mirror's head. The rest waits for a
  // checkpoint: unsigned ones, and everything after them or after unproven records.
  size_t proven = base_seq == held ? std::min(first_unsigned, records.size()) : 0;
  std::span<const MirrorRecord> now(records.data(), proven), later(records.data() + proven, records.size() - proven);
  if (!later.empty() && !replaying_) {
    // What waits once this batch is stored: the records below its first seq (it
    // replaces the rest), and its own unproven ones.
    auto waiting = unproven_->count(records.front().seq);
    if (!waiting) return storage_failure(waiting.error());
    if (*waiting + later.size() > options_.limits.max_unproven_records)
      return refuse(409, "unproven_limit", "checkpoint",
                    "more than " + std::to_string(options_.limits.max_unproven_records) +
                        " records would wait for a checkpoint: post the checkpoints that prove those held first",
                    later.front().seq);
  }
  if (shared_ && !replaying_) {
    std::string logged;
    for (const MirrorRecord& m : records) append_record_line(logged, m.seq, m.canonical, raw(m.hash), m.signature);
    if (auto r = log_write("records", std::move(logged)); !r) return tl::unexpected(r.error());
  }
  if (!now.empty())
    if (auto r = journal_.ingest(now); !r) return storage_failure(r.error());
  auto top = unproven_->last();
  if (!top) return storage_failure(top.error());
  if (!later.empty() || *top)  // replaces what it held from the first new seq on
    if (auto r = unproven_->replace_from(records.front().seq, later); !r) return storage_failure(r.error());
  return receipt_of(site_id_, lines);
}

Answer<std::string> SiteStore::post_checkpoint(std::string_view note) {
  auto c = parse_checkpoint(note);
  if (!c) return refuse(400, "malformed", "checkpoint", "not a signed checkpoint note: " + c.error().to_string());
  if (c->origin != checkpoint_origin(site_id_))
    return refuse(422, "wrong_site", "site", "origin '" + c->origin + "' is not " + checkpoint_origin(site_id_));
  std::lock_guard lock(mutex_);
  return write_locked([&] { return post_checkpoint_locked(*c); });
}

Answer<std::string> SiteStore::post_checkpoint_locked(const Checkpoint& c) {
  // A key revoked from seq s may not vouch for a tree that holds record s.
  auto usable = [&](const PublicKey& k) {
    auto from = revoked_from(k.key_id_hex());
    return (!from || c.tree_size < *from) && verify_checkpoint(c, k);
  };
  if (!replaying_ && std::none_of(keys_.begin(), keys_.end(), usable))
    return refuse(422, "bad_signature", "checkpoint",
                  "no signature line verifies with a key registered for the site (and not revoked at this tree size)");
  uint64_t held = journal_.last_seq();
  if (c.tree_size > held) return prove_unproven(c);
  auto root = journal_.tree_root(c.tree_size);
  if (!root) return storage_failure(root.error());
  if (*root != c.root)
    return refuse(409, "fork", "checkpoint",
                  "the root at tree size " + std::to_string(c.tree_size) +
                      " differs from the root of the records held: a forked history");
  auto same = journal_.checkpoints(c.tree_size, c.tree_size);
  if (!same) return storage_failure(same.error());
  if (std::none_of(same->begin(), same->end(), [&](const StoredCheckpoint& s) { return s.checkpoint.note == c.note; })) {
    if (auto r = log_checkpoint(c); !r) return tl::unexpected(r.error());
    if (auto r = journal_.add_checkpoint(c, "upload"); !r) return storage_failure(r.error());
  }
  return checkpoint_receipt(c);
}

// The receipt of a checkpoint stored, with the registry's cosignature of it: the one made
// when it was first accepted, so a resent checkpoint gets the same receipt. A checkpoint
// first seen after a larger one gets none: a cosignature/v1 at time T says that at T this
// was the largest tree head the registry had seen of the site (C2SP tlog-cosignature).
Answer<std::string> SiteStore::checkpoint_receipt(const Checkpoint& c) {
  json receipt{{"site", site_id_}, {"tree_size", c.tree_size}, {"root", to_base64(raw(c.root))}};
  if (Cosigner* cosigner = options_.cosigner) {
    auto held = journal_.checkpoints(c.tree_size, c.tree_size);
    if (!held) return storage_failure(held.error());
    std::string line;
    for (const StoredCheckpoint& s : *held)
      if (s.checkpoint.note == c.note)
        for (const std::string& l : s.cosignatures)
          if (line.empty() && cosigner->is_own(l, c.note)) line = l;
    auto largest = journal_.largest_checkpoint_size();
    if (!largest) return storage_failure(largest.error());
    if (line.empty() && *largest == c.tree_size) {
      // Shared by registry processes: the one made when the checkpoint was logged, so
      // every process keeps and answers the same line.
      auto made = shared_ ? Result<std::string>(preset_cosignature_)
                          : cosigner->cosign(c.note, static_cast<uint64_t>(std::max<int64_t>(0, utc_now_ms() / 1000)));
      if (!made) return storage_failure(made.error());
      if (!made->empty())
        if (auto r = journal_.add_cosignature(c, *made); !r) return storage_failure(r.error());
      line = std::move(*made);
    }
    if (!line.empty()) receipt["cosignature"] = line;
  }
  return receipt.dump();
}

// A signed checkpoint beyond the records held: the unproven records through its tree
// size are moved into the mirror if, and only if, they have its root.
Answer<std::string> SiteStore::prove_unproven(const Checkpoint& c) {
  uint64_t held = journal_.last_seq();
  auto top = unproven_->last();
  if (!top) return storage_failure(top.error());
  uint64_t waiting_through = *top ? (*top)->seq : held;
  auto missing = [&](uint64_t through, std::string why) {
    return tl::unexpected(Refusal{409, "records_missing", "checkpoint",
                                  "tree size " + std::to_string(c.tree_size) + " " + why + " (held through seq " +
                                      std::to_string(through) + "): post the records first",
                                  std::nullopt, through});
  };
  if (c.tree_size > waiting_through) return missing(waiting_through, "is beyond the records sent");
  std::vector<MirrorRecord> records;
  auto read = unproven_->for_each(held + 1, c.tree_size, [&](MirrorRecord&& m) { records.push_back(std::move(m)); });
  if (!read) return storage_failure(read.error());
  if (auto r = log_checkpoint(c); !r) return tl::unexpected(r.error());
  bool proven = !records.empty() && records.back().seq == c.tree_size;
  if (proven) {
    auto r = journal_.ingest(records, &c.root);
    if (!r && r.error().code != ErrorCode::corruption) return storage_failure(r.error());
    proven = r.has_value();
  }
  if (!proven) {
    // Not what the site's key signed: whoever sent them, they are dropped and the
    // site's agent resends its own from held_through + 1.
    if (auto r = unproven_->replace_from(held + 1, {}); !r) return storage_failure(r.error());
    log::warning("registry: site '" + site_id_ + "': unproven records " + std::to_string(held + 1) + ".." +
                 std::to_string(waiting_through) + " do not have the root of the checkpoint at " +
                 std::to_string(c.tree_size) + ": dropped");
    return missing(held, "is not proven by the records that waited for it; they were dropped");
  }
  if (auto r = unproven_->drop_through(c.tree_size); !r) return storage_failure(r.error());
  if (auto r = journal_.add_checkpoint(c, "upload"); !r) return storage_failure(r.error());
  return checkpoint_receipt(c);
}

Answer<std::string> SiteStore::post_report(std::string_view json_text) {
  if (json_text.size() > options_.limits.max_body_bytes) return refuse(413, "too_large", "size", "report too large");
  std::lock_guard lock(mutex_);
  return write_locked([&] { return post_report_locked(json_text); });
}

Answer<std::string> SiteStore::post_report_locked(std::string_view json_text) {
  // A signed monitoring report (docs/report-format.md) of this site, by a registered key.
  auto report = report::parse_signed_report(json_text);
  if (!report) return refuse(400, "malformed", "format", report.error().message);
  if (report->site_id != site_id_)
    return refuse(422, "wrong_site", "site", "the report is of site '" + report->site_id + "'");
  std::string hash = to_hex(sha256(json_text));
  auto signature = from_base64(report->signature.value_b64);
  if (!replaying_ && (!signature || std::none_of(keys_.begin(), keys_.end(), [&](const PublicKey& k) {
        return k.key_id_hex() == report->signature.key_id_hex && !revoked_from(k.key_id_hex()) &&
               k.verify(report->canonical, *signature);
      })))
    return refuse(422, "bad_signature", "signature",
                  "the report's signature does not verify with a registered, unrevoked key of the site (key " +
                      report->signature.key_id_hex + ")");
  auto path = reports_dir_ / (hash + ".json");
  if (!std::filesystem::exists(path)) {
    if (auto r = log_write("report", std::string(json_text)); !r) return tl::unexpected(r.error());
    if (auto r = write_durably(path, json_text); !r) return storage_failure(r.error());
    // Its time received is the file's: the same on every process sharing the site.
    std::error_code ec;
    std::filesystem::last_write_time(
        path, std::chrono::file_clock::from_sys(std::chrono::sys_time<std::chrono::milliseconds>(
                  std::chrono::milliseconds(write_ms()))), ec);
  }
  return json{{"site", site_id_}, {"report_sha256", hash}, {"bytes", json_text.size()}}.dump();
}

Answer<std::string> SiteStore::summary() {
  std::lock_guard lock(mutex_);
  auto stats = journal_.stats();
  if (!stats) return storage_failure(stats.error());
  auto latest = journal_.latest_checkpoint();
  if (!latest) return storage_failure(latest.error());
  auto top = unproven_->last();
  if (!top) return storage_failure(top.error());
  auto waiting = unproven_->count();
  if (!waiting) return storage_failure(waiting.error());
  json j = {{"site", site_id_}, {"held_through", stats->last_seq}, {"first_seq", stats->first_seq},
            {"records", stats->record_count}, {"tree_size", journal_.last_seq()}, {"latest_checkpoint", nullptr},
            {"unproven_records", *waiting}, {"unproven_through", *top ? (*top)->seq : 0}};
  if (*latest) j["latest_checkpoint"] = {{"tree_size", (*latest)->checkpoint.tree_size}, {"note", (*latest)->checkpoint.note}};
  return j.dump();
}

Answer<std::string> SiteStore::records_locked(uint64_t from_seq, uint64_t to_seq) {
  std::string out;
  auto read = journal_.for_each_record(from_seq, to_seq, [&](const StoredRecord& r) {
    append_record_line(out, r.seq, r.canonical, r.hash, r.signature);
  }, options_.limits.max_batch_records);
  if (!read) return storage_failure(read.error());
  return out;
}

Answer<std::string> SiteStore::records(uint64_t from_seq, uint64_t to_seq) {
  std::lock_guard lock(mutex_);
  return records_locked(from_seq, to_seq);
}

Answer<std::string> SiteStore::records_by_time(int64_t from_ms, int64_t to_ms) {
  std::lock_guard lock(mutex_);
  auto range = journal_.seq_range_for_time(from_ms, to_ms);
  if (!range) return storage_failure(range.error());
  if (!*range) return std::string();
  return records_locked((*range)->first, (*range)->second);
}

Answer<std::string> SiteStore::checkpoints(uint64_t min_size, uint64_t max_size) {
  std::lock_guard lock(mutex_);
  auto cps = journal_.checkpoints(min_size, max_size);
  if (!cps) return storage_failure(cps.error());
  json out = json::array();
  for (const auto& c : *cps)
    out.push_back(
        {{"tree_size", c.checkpoint.tree_size}, {"note", c.checkpoint.note}, {"cosignatures", c.cosignatures}});
  return out.dump();
}

std::vector<SitePage::Report> SiteStore::report_list() {
  std::lock_guard lock(mutex_);
  std::vector<SitePage::Report> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(reports_dir_, ec)) {
    if (e.path().extension() != ".json") continue;
    auto t = std::filesystem::last_write_time(e.path(), ec);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::file_clock::to_sys(t).time_since_epoch()).count();
    out.push_back({e.path().stem().string(), e.file_size(ec), ms});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(b.received_ms, b.sha256) < std::tie(a.received_ms, a.sha256);
  });
  return out;
}

Answer<std::string> SiteStore::reports() {
  json out = json::array();
  for (const auto& r : report_list())
    out.push_back({{"report_sha256", r.sha256}, {"bytes", r.bytes}, {"received_ms", r.received_ms}});
  return out.dump();
}

Answer<std::string> SiteStore::report(std::string_view sha256_hex) {
  if (sha256_hex.size() != 64 || sha256_hex.find_first_not_of("0123456789abcdef") != std::string_view::npos)
    return refuse(404, "not_found", "format", "no report " + std::string(sha256_hex));
  std::lock_guard lock(mutex_);
  std::ifstream in(reports_dir_ / (std::string(sha256_hex) + ".json"), std::ios::binary);
  if (!in) return refuse(404, "not_found", "format", "no report " + std::string(sha256_hex));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace mrv::registry
