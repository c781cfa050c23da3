// A site shared by registry processes through the database ([database]): the writes are
// logged there first, and the SQLite files here are this process's copy, caught up from
// the log before each write and before each read: a process that never serves a site
// stores none of it (docs/operations.md, "The registry on PostgreSQL: several processes").
#include <algorithm>
#include <fstream>
#include <map>

#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"
#include "mrv/registry/cosigner.hpp"
#include "mrv/registry/site_store.hpp"
#include "site_write_log.hpp"
#include "store_answers.hpp"
#include "unproven_store.hpp"

namespace mrv::registry {

namespace {

// This copy's place in the log is saved at most every this many writes: a crash only
// means that writes applied since are put in force again, which changes nothing (a
// write's replay finds it held: records as a resend, a checkpoint or key held already).
constexpr uint64_t kSaveEvery = 64;

tl::unexpected<Refusal> database_away(const std::string& site, const Error& e) {
  bool away = e.code == ErrorCode::busy;
  return tl::unexpected(Refusal{away ? 503 : 500, away ? "unavailable" : "storage", "storage",
                                "site '" + site + "': " + e.to_string(), std::nullopt, std::nullopt});
}

bool incomplete(const Answer<std::string>& a) { return !a && a.error().error == "storage"; }

}  // namespace

struct SiteStore::Shared {
  Shared(SiteWriteLog& l, std::filesystem::path place) : log(l), place_file(std::move(place)) {}
  SiteWriteLog& log;
  std::filesystem::path place_file;  // "<n> <digest>\n": the newest write in this copy
  uint64_t applied = 0, saved = 0;
  std::string digest;
  std::optional<SiteWriteLog::Session> session;  // a write's: holds the site's lock
  std::optional<std::pair<uint64_t, std::string>> logged;  // the write in progress, once logged
  std::string last_warning;

  // force: also when nothing changed (a new copy's "0 000…": no site to move in later).
  Result<void> save(bool force = false) {
    if (saved == applied && !force) return {};
    std::string written = applied == 0 ? std::string(64, '0') : digest;
    if (auto r = write_durably(place_file, std::to_string(applied) + " " + written + "\n"); !r) return r;
    saved = applied;
    return {};
  }
};

SiteStore::SiteStore(std::string site_id, std::filesystem::path path, Journal journal,
                     std::unique_ptr<UnprovenStore> unproven, std::vector<PublicKey> keys, SiteOptions options,
                     VerifyPool& pool)
    : site_id_(std::move(site_id)), path_(std::move(path)), journal_(std::move(journal)),
      unproven_(std::move(unproven)), keys_(std::move(keys)), options_(std::move(options)), pool_(pool) {
  reports_dir_ = path_.string() + ".reports";
  tpm_dir_ = path_.string() + ".tpm";
}

// Here, where Shared is whole.
SiteStore::~SiteStore() {
  if (shared_)
    if (auto r = shared_->save(); !r) log::warning("registry: site '" + site_id_ + "': " + r.error().to_string());
}

Result<void> SiteStore::attach_shared() {
  if (!options_.shared_log) return {};
  auto s = std::make_unique<Shared>(*options_.shared_log, path_.string() + ".shared");
  std::ifstream in(s->place_file);
  if (in) {
    in >> s->applied >> s->digest;
    if (!in || s->digest.size() != 64) return fail(ErrorCode::corruption, s->place_file.string(), "not '<n> <digest>'");
    if (s->applied == 0) s->digest.clear();
    s->saved = s->applied;
  } else {
    // Before this copy takes its first write: a copy without a place file holds a site
    // kept before [database] was set, to be moved in.
    if (auto r = move_into_log(*s); !r) return r;
    if (auto r = s->save(true); !r) return r;
  }
  shared_ = std::move(s);
  return {};
}

// A site kept on SQLite before [database] was set: this copy goes into the site's empty
// log as the writes that rebuild it elsewhere, all in one transaction. Keys at their
// registration times; configs; records, each checkpoint after the records it covers, with
// the registry's cosignature of it; records still unproven; reports at their times.
Result<void> SiteStore::move_into_log(Shared& s) {
  auto keys = journal_.public_keys();
  if (!keys) return tl::unexpected(keys.error());
  auto configs = journal_.configs();
  if (!configs) return tl::unexpected(configs.error());
  auto unproven = unproven_->last();
  if (!unproven) return tl::unexpected(unproven.error());
  std::vector<SitePage::Report> reports = report_list();
  if (keys->empty() && configs->empty() && journal_.last_seq() == 0 && !*unproven && reports.empty())
    return {};  // a new copy: it follows the log
  auto session = s.log.lock(site_id_);
  if (!session) return tl::unexpected(session.error());
  std::vector<SiteWrite> held;
  if (auto r = session->newer(0, "", held); !r) return r;
  if (!held.empty())
    return fail(ErrorCode::invalid_argument, path_.string(),
                "holds a site kept before [database] was set, and the database holds writes of this site too: move "
                "this site's files away to serve it from the database, or empty the database of it");
  std::map<std::string, size_t> counts;
  auto add = [&](std::string kind, std::string body, std::string extra, int64_t at_ms) -> Result<void> {
    ++counts[kind];
    SiteWrite w{s.applied + 1, std::move(kind), std::move(body), std::move(extra), at_ms != 0 ? at_ms : utc_now_ms()};
    auto digest = session->add(w);
    if (!digest) return tl::unexpected(digest.error());
    s.applied = w.n;
    s.digest = std::move(*digest);
    return {};
  };
  for (const auto& k : *keys)
    if (auto r = add("key", k.pem, "", k.first_used_ms); !r) return r;
  for (auto& [hash, text] : *configs)
    if (auto r = add("config", std::move(text), hash, 0); !r) return r;

  std::string page;  // record lines, logged about 8 MiB at a time
  Result<void> added;
  auto flush = [&] {
    if (added && !page.empty()) added = add("records", std::exchange(page, {}), "", 0);
  };
  auto take = [&](uint64_t seq, std::string_view canonical, std::string_view hash, std::string_view signature) {
    if (!added) return;  // the move failed: the rest is not read into memory
    append_record_line(page, seq, canonical, hash, signature);
    if (page.size() >= (8u << 20)) flush();
  };
  auto records_through = [&](uint64_t& next, uint64_t through) -> Result<void> {
    if (next <= through)
      if (auto r = journal_.for_each_record(next, through, [&](const StoredRecord& r) {
            take(r.seq, r.canonical, r.hash, r.signature);
          }); !r)
        return r;
    next = std::max(next, through + 1);
    flush();
    return added;
  };
  auto checkpoints = journal_.checkpoints(0, UINT64_MAX);
  if (!checkpoints) return tl::unexpected(checkpoints.error());
  uint64_t next = 1;
  for (const StoredCheckpoint& c : *checkpoints) {
    if (auto r = records_through(next, c.checkpoint.tree_size); !r) return r;
    std::string cosignature;
    for (const std::string& line : c.cosignatures)
      if (cosignature.empty() && options_.cosigner && options_.cosigner->is_own(line, c.checkpoint.note))
        cosignature = line;
    if (auto r = add("checkpoint", c.checkpoint.note, cosignature, 0); !r) return r;
  }
  if (auto r = records_through(next, journal_.last_seq()); !r) return r;
  if (auto r = unproven_->for_each(1, UINT64_MAX, [&](MirrorRecord&& m) { take(m.seq, m.canonical, raw(m.hash), m.signature); });
      !r)
    return r;
  flush();
  if (!added) return added;
  std::reverse(reports.begin(), reports.end());  // oldest first
  for (const auto& r : reports) {
    auto text = report(r.sha256);
    if (!text) return fail(ErrorCode::io, (reports_dir_ / (r.sha256 + ".json")).string(), text.error().message);
    if (auto a = add("report", std::move(*text), "", r.received_ms); !a) return a;
  }
  if (auto r = session->commit(); !r) return r;
  std::string what;
  for (const auto& [kind, n] : counts) what += (what.empty() ? "" : ", ") + std::to_string(n) + " " + kind;
  log::info("registry: site '" + site_id_ + "': moved into the database: " + std::to_string(s.applied) +
            " writes (" + what + ")");
  if (auto activated = tpm_activations(); !activated.empty())
    log::warning("registry: site '" + site_id_ + "': its " + std::to_string(activated.size()) +
                 " TPM activation(s) stay in this copy only: other processes serve them once the site's agent "
                 "activates its key again (tpm-activate)");
  return {};
}

int64_t SiteStore::write_ms() const { return write_ms_ != 0 ? write_ms_ : utc_now_ms(); }

Answer<std::string> SiteStore::write_locked(const std::function<Answer<std::string>()>& apply) {
  if (!shared_) return apply();
  if (auto r = catch_up_locked(); !r) return tl::unexpected(r.error());
  write_ms_ = utc_now_ms();
  auto answer = apply();
  Shared& s = *shared_;
  // Logged, and done here unless a storage failure cut it short: then the next catch-up
  // puts it in force from the log.
  if (s.logged && !incomplete(answer)) {
    s.applied = s.logged->first;
    s.digest = std::move(s.logged->second);
    save_now_and_then();
  }
  s.logged.reset();
  s.session.reset();  // rolls back what was not committed, and lets the site's lock go
  write_ms_ = 0;
  preset_cosignature_.clear();
  return answer;
}

Answer<void> SiteStore::log_write(std::string kind, std::string body, std::string extra) {
  if (!shared_ || replaying_) return {};
  Shared& s = *shared_;
  SiteWrite w{s.applied + 1, std::move(kind), std::move(body), std::move(extra), write_ms()};
  auto digest = s.session->append(w);
  if (!digest) return database_away(site_id_, digest.error());
  s.logged.emplace(w.n, std::move(*digest));
  return {};
}

Answer<void> SiteStore::log_checkpoint(const Checkpoint& c) {
  std::string cosignature;
  if (shared_ && !replaying_ && options_.cosigner) {
    auto made = options_.cosigner->cosign(c.note, static_cast<uint64_t>(std::max<int64_t>(0, write_ms() / 1000)));
    if (!made) return storage_failure(made.error());
    cosignature = std::move(*made);
  }
  if (auto r = log_write("checkpoint", c.note, cosignature); !r) return r;
  if (!replaying_) preset_cosignature_ = std::move(cosignature);
  return {};
}

Answer<void> SiteStore::catch_up_locked() {
  Shared& s = *shared_;
  auto session = s.log.lock(site_id_);
  if (!session) return database_away(site_id_, session.error());
  s.session.emplace(std::move(*session));
  std::vector<SiteWrite> newer;
  for (;;) {
    if (auto read = s.session->newer(s.applied, s.digest, newer); !read) {
      s.session.reset();
      return database_away(site_id_, read.error());
    }
    if (newer.empty()) return {};
    if (auto r = put_in_force_locked(newer); !r) {
      s.session.reset();
      return r;
    }
  }
}

Answer<void> SiteStore::put_in_force_locked(const std::vector<SiteWrite>& writes) {
  Shared& s = *shared_;
  for (const SiteWrite& w : writes) {
    if (w.n <= s.applied) continue;
    if (w.n != s.applied + 1)
      return refuse(500, "storage", "storage", "site '" + site_id_ + "': write " + std::to_string(s.applied + 1) +
                                                   " is missing from the database (write " + std::to_string(w.n) + " follows)");
    if (auto r = replay(w); incomplete(r)) return tl::unexpected(r.error());
    s.applied = w.n;
    s.digest = w.digest_hex();
  }
  save_now_and_then();
  return {};
}

void SiteStore::save_now_and_then() {
  Shared& s = *shared_;
  if (s.applied - s.saved >= kSaveEvery)
    if (auto r = s.save(); !r) log::warning("registry: site '" + site_id_ + "': " + r.error().to_string());
}

void SiteStore::follow(uint64_t head) {
  if (!shared_) return;
  Shared& s = *shared_;
  std::vector<SiteWrite> newer;
  for (;;) {  // a page at a time, the site's lock here let go between pages
    uint64_t from;
    std::string digest;
    {
      std::lock_guard lock(mutex_);
      if (head <= s.applied) return;
      from = s.applied;
      digest = s.digest;
    }
    auto read = s.log.newer(site_id_, from, digest, newer);
    std::lock_guard lock(mutex_);
    std::string warning = read ? "" : read.error().to_string();
    if (read && s.applied == from)  // else a write here moved on meanwhile: read again
      if (auto r = put_in_force_locked(newer); !r) warning = r.error().message;
    if (warning != s.last_warning && !warning.empty())
      log::warning("registry: site '" + site_id_ + "': " + warning + " (reads answer from this process's copy)");
    s.last_warning = warning;
    if (!warning.empty() || newer.empty()) return;
  }
}

// A write another process accepted (or this one, before a crash), put in force here the
// way it was then: at its time, without the checks of keys and signatures it passed.
Answer<std::string> SiteStore::replay(const SiteWrite& w) {
  replaying_ = true;
  write_ms_ = w.at_ms;
  preset_cosignature_ = w.kind == "checkpoint" ? w.extra : "";
  auto answer = [&]() -> Answer<std::string> {
    if (w.kind == "records") {
      auto lines = parse_lines(w.body, {.max_body_bytes = SIZE_MAX, .max_batch_records = SIZE_MAX,
                                        .max_unproven_records = UINT64_MAX});
      if (!lines) return refuse(500, "storage", "storage", "write " + std::to_string(w.n) + ": " + lines.error().message);
      return post_lines_locked(*lines);
    }
    if (w.kind == "checkpoint") {
      auto c = parse_checkpoint(w.body);
      if (!c) return refuse(500, "storage", "storage", "write " + std::to_string(w.n) + ": not a checkpoint");
      return post_checkpoint_locked(*c);
    }
    if (w.kind == "key") return register_key_locked(w.body);
    if (w.kind == "config") return add_config_locked(w.extra, w.body);
    if (w.kind == "report") return post_report_locked(w.body);
    if (w.kind == "tpm_challenge") return tpm_challenge_replay(w);
    if (w.kind == "tpm_activate") return tpm_activate_locked(w.extra, w.body);
    return refuse(500, "storage", "storage",
                  "write " + std::to_string(w.n) + " is of a kind this registry does not know ('" + w.kind +
                      "'): a newer registry wrote it");
  }();
  if (!answer && answer.error().error != "storage")  // refused then as now: nothing changed
    log::info("registry: site '" + site_id_ + "': write " + std::to_string(w.n) + " (" + w.kind +
              ") put in force: " + answer.error().message);
  replaying_ = false;
  write_ms_ = 0;
  preset_cosignature_.clear();
  return answer;
}

}  // namespace mrv::registry
