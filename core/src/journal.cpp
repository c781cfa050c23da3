#include "mrv/core/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>

#include "head_anchor.hpp"
#include "journal_impl.hpp"
#include "journal_schema.hpp"
#include "mrv/core/chain_verifier.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/site_record.hpp"

namespace mrv {

Journal::Journal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Journal::Journal(Journal&&) noexcept = default;
Journal& Journal::operator=(Journal&&) noexcept = default;
Journal::~Journal() {
  if (impl_ && impl_->anchor_stale)
    write_head_anchor(impl_->options.path, {impl_->last_seq, impl_->last_hash_hex});
}

Result<sqlite3*> open_db(const std::filesystem::path& path, int flags) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = sqlite::error_of(db, rc, path.string());
    sqlite3_close_v2(db);
    return tl::unexpected(std::move(e));
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  return db;
}

namespace {

std::string lock_path(const std::filesystem::path& journal_path) { return journal_path.string() + ".lock"; }

// Two writers would each number records from their own idea of the head: refuse the
// second one. The lock goes with the process, so kill -9 never leaves it stale.
Result<int> lock_journal(const std::filesystem::path& journal_path) {
  std::string path = lock_path(journal_path);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail(ErrorCode::io, path, std::strerror(errno));
  // A probe (writer_running, from `status`) holds a shared lock for microseconds: wait
  // it out rather than refuse to start.
  int rc = -1, err = 0;
  for (int attempt = 0; attempt < 20; ++attempt) {
    if ((rc = ::flock(fd, LOCK_EX | LOCK_NB)) == 0 || (err = errno) != EWOULDBLOCK) break;
    ::usleep(10'000);
  }
  if (rc != 0) {
    ::close(fd);
    return fail(err == EWOULDBLOCK ? ErrorCode::busy : ErrorCode::io, journal_path.string(),
                err == EWOULDBLOCK ? "another mrv-agent is writing this journal"
                                   : std::strerror(err));
  }
  return fd;
}
}  // namespace

Result<bool> Journal::writer_running(const std::filesystem::path& journal_path) {
  std::string path = lock_path(journal_path);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return false;  // no agent ever wrote here
    return fail(ErrorCode::io, path, std::strerror(errno));
  }
  int rc = ::flock(fd, LOCK_SH | LOCK_NB), err = errno;
  ::close(fd);  // drops the shared lock, if taken
  if (rc == 0) return false;
  if (err == EWOULDBLOCK) return true;
  return fail(ErrorCode::io, path, std::strerror(err));
}

Result<void> Journal::set_config(const std::string& hash_hex, const std::string& text) {
  Impl& j = *impl_;
  if (!j.signer) return fail(ErrorCode::invalid_argument, j.options.path.string(), "journal opened read-only");
  sqlite::Statement c(j.db, "INSERT OR IGNORE INTO configs VALUES (?1, ?2, ?3)");
  c.bind(1, hash_hex).bind_blob(2, text).bind(3, utc_now_ms());
  if (int rc = c.step(); rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "register config"));
  j.fields.config_hash_hex = hash_hex;
  j.options.config_hash_hex = hash_hex;
  j.options.config_text = text;
  return {};
}

const LatencyHistogram& Journal::sign_latency() const { return impl_->sign_latency; }
const std::string& Journal::config_hash_hex() const { return impl_->fields.config_hash_hex; }

Result<Journal> Journal::open_for_writing(const JournalOptions& options, Signer signer) {
  std::error_code ec;
  std::filesystem::create_directories(options.path.parent_path(), ec);
  auto lock_fd = lock_journal(options.path);
  if (!lock_fd) return tl::unexpected(lock_fd.error());
  auto impl = std::make_unique<Impl>();
  impl->lock_fd = *lock_fd;
  auto db = open_db(options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return tl::unexpected(db.error());
  impl->db = *db;
  impl->options = options;
  impl->algorithm_name = std::string(to_string(signer.algorithm()));
  impl->signer.emplace(std::move(signer));
  std::string pragmas = "PRAGMA page_size = 16384; PRAGMA journal_mode = WAL; PRAGMA cache_size = -1024; PRAGMA synchronous = ";
  pragmas += options.synchronous == Synchronous::full ? "FULL;" : "NORMAL;";
  if (auto r = sqlite::exec(impl->db, pragmas.c_str(), options.path.string()); !r)
    return tl::unexpected(r.error());
  if (auto r = migrate_journal(impl->db); !r) {
    r.error().where = options.path.string() + ": " + r.error().where;
    return tl::unexpected(r.error());
  }
  int64_t now = utc_now_ms();
  {
    sqlite::Statement k(impl->db,
                        "INSERT OR IGNORE INTO keys VALUES (?1, ?2, ?3, ?4)");
    k.bind(1, impl->signer->key_id_hex()).bind(2, impl->algorithm_name)
        .bind(3, impl->signer->public_pem()).bind(4, now);
    sqlite::Statement c(impl->db, "INSERT OR IGNORE INTO configs VALUES (?1, ?2, ?3)");
    c.bind(1, options.config_hash_hex).bind_blob(2, options.config_text).bind(3, now);
    int rk = k.step(), rc = c.step();
    if (rk != SQLITE_DONE || rc != SQLITE_DONE)
      return tl::unexpected(sqlite::error_of(impl->db, rk != SQLITE_DONE ? rk : rc,
                                             "register key and config"));
  }
  impl->fields.site_id = options.site_id;
  impl->fields.boot_id = options.boot_id;
  impl->fields.config_hash_hex = options.config_hash_hex;
  impl->fields.key_id_hex = impl->signer->key_id_hex();
  impl->fields.algorithm = impl->algorithm_name;
  impl->prepare_writer_statements();
  auto public_key = PublicKey::from_pem(impl->signer->public_pem());
  if (!public_key) return tl::unexpected(public_key.error());
  impl->public_key.emplace(std::move(*public_key));
  impl->origin = checkpoint_origin(options.site_id);
  if (impl->options.checkpoint_only) impl->fields.algorithm = std::string(kCheckpointOnlyAlg);
  if (auto r = impl->load_head(); !r) return tl::unexpected(r.error());
  if (auto r = impl->tree.load(impl->db); !r) return tl::unexpected(r.error());
  if (auto r = impl->catch_up_tree(); !r) return tl::unexpected(r.error());
  {
    sqlite::Statement s(impl->db, "SELECT coalesce(max(tree_size), 0) FROM checkpoints");
    if (s.step() == SQLITE_ROW) impl->checkpoint_mark.size = static_cast<uint64_t>(s.int64(0));
  }
  impl->checkpoint_mark.at = std::chrono::steady_clock::now();
  impl->checkpoint_mark.utc_ms = utc_now_ms();
  if (auto r = impl->apply_chain_policy(); !r) return tl::unexpected(r.error());
  Journal journal(std::move(impl));
  // Records written since the last checkpoint (before a crash, say) are covered now.
  if (auto r = journal.checkpoint("start"); !r) return tl::unexpected(r.error());
  return journal;
}

// The leaves the tree lacks: those of the newest chunk (kept only as records until the
// chunk fills, journal_tree.hpp), or all of a journal from before the tree existed.
Result<void> Journal::Impl::catch_up_tree() {
  if (tree.size() > last_seq)
    return fail(ErrorCode::corruption, options.path.string(),
                "the Merkle tree holds " + std::to_string(tree.size()) +
                    " leaves but the chain ends at seq " + std::to_string(last_seq));
  if (tree.size() == last_seq) return {};
  if (auto r = sqlite::exec(db, "BEGIN IMMEDIATE", "begin tree catch-up"); !r) return r;
  auto body = [&]() -> Result<void> {
    sqlite::Statement s(db, "SELECT seq, canonical FROM records WHERE seq > ?1 ORDER BY seq");
    s.bind(1, static_cast<int64_t>(tree.size()));
    int rc;
    while ((rc = s.step()) == SQLITE_ROW)
      if (auto r = tree.append(static_cast<uint64_t>(s.int64(0)), merkle_leaf_hash(s.blob(1))); !r) return r;
    if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "read records for the tree"));
    if (tree.size() < last_seq)  // the newest records were pruned before the tree existed
      if (auto r = tree.append(last_seq, merkle_absent_leaf()); !r) return r;
    return sqlite::exec(db, "COMMIT", "commit tree catch-up");
  };
  tree.save();
  if (auto r = body(); !r) {
    (void)sqlite::exec(db, "ROLLBACK", "rollback");
    tree.restore();
    return r;
  }
  return {};
}

Result<Checkpoint> Journal::Impl::add_checkpoint(std::string_view reason) {
  auto c = sign_checkpoint(*signer, *public_key, origin, tree.size(), tree.root(), utc_now_ms());
  if (!c) return c;
  insert_checkpoint.bind(1, static_cast<int64_t>(c->tree_size)).bind(2, c->time_ms).bind(3, reason).bind(4, c->note);
  int rc = insert_checkpoint.step();
  insert_checkpoint.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "store checkpoint"));
  checkpoint_mark = {c->tree_size, std::chrono::steady_clock::now(), c->time_ms};
  return c;
}

Result<std::optional<Checkpoint>> Journal::checkpoint(std::string_view reason) {
  Impl& j = *impl_;
  if (!j.signer) return fail(ErrorCode::invalid_argument, j.options.path.string(), "journal opened read-only");
  if (j.tree.size() == j.checkpoint_mark.size) return std::optional<Checkpoint>();
  auto mark_before = j.checkpoint_mark;
  int rc = j.begin.step();
  j.begin.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "begin checkpoint"));
  auto c = j.add_checkpoint(reason);
  if (c) {
    rc = j.commit.step();
    j.commit.reset();
    if (rc == SQLITE_DONE) return std::optional<Checkpoint>(std::move(*c));
    c = tl::unexpected(sqlite::error_of(j.db, rc, "commit checkpoint"));
  }
  j.rollback.step();
  j.rollback.reset();
  j.checkpoint_mark = mark_before;
  return tl::unexpected(c.error());
}

std::optional<std::chrono::steady_clock::time_point> Journal::checkpoint_due() const {
  const Impl& j = *impl_;
  const Impl::CheckpointMark& m = j.checkpoint_mark;
  if (j.tree.size() == m.size) return std::nullopt;
  auto now = std::chrono::steady_clock::now();
  int64_t utc = utc_now_ms();
  auto boundary = now + std::chrono::milliseconds((utc / kBoundaryMs + 1) * kBoundaryMs - utc);
  if (utc / kBoundaryMs > m.utc_ms / kBoundaryMs) boundary = now;
  return std::min(m.at + std::chrono::milliseconds(j.options.checkpoint_interval_ms), boundary);
}

const char* Journal::checkpoint_reason() const {
  const char* reason = impl_->checkpoint_reason(std::chrono::steady_clock::now());
  return *reason ? reason : "interval";
}

namespace {

constexpr size_t kTakeBackPage = 500;  // records a request: well inside a response's 1 MiB

// Takes back from `witness` the records after the journal's end, up to the witness's
// seq, page by page, each checked like any record and committed with its tree leaf.
// Stops at the first one that does not check out, or when the witness cannot answer;
// what it took back stays. Returns what happened, for the chain segment's reason.
std::string take_back(Journal::Impl& j, const HeadWitness& witness) {
  uint64_t first = j.last_seq + 1;
  auto keys = j.load_keys();
  if (!keys) return "could not take back seq " + std::to_string(first) + " on: " + keys.error().to_string();
  ChainVerifier verifier(*keys);
  verifier.resume(j.last_seq, j.last_hash_hex);
  std::string stopped;
  while (j.last_seq < witness.seq && stopped.empty()) {
    auto page = witness.records(j.last_seq + 1, kTakeBackPage);
    if (!page) {
      stopped = page.error().to_string();
      break;
    }
    if (page->empty()) {
      stopped = "it sent none";
      break;
    }
    int rc = j.begin.step();
    j.begin.reset();
    if (rc != SQLITE_DONE) return "could not take back: " + sqlite::error_of(j.db, rc, "begin").to_string();
    j.tree.save();
    uint64_t seq_before = j.last_seq;
    std::string hash_before = j.last_hash_hex;
    // A record that does not check out ends the taking back after the ones before it;
    // a failure to store one undoes the page (a record without its leaf is not kept).
    bool store_failed = false;
    for (const StoredRecord& r : *page) {
      if (r.seq <= j.last_seq || r.seq > witness.seq) {
        stopped = "it sent seq " + std::to_string(r.seq) + " after seq " + std::to_string(j.last_seq);
        break;
      }
      auto f = verifier.check(r.seq, r.canonical, to_hex(r.hash), r.signature);
      if (!f) {
        stopped = "record " + std::to_string(r.seq) + ": " + f.error().message;
        break;
      }
      const Reading& rd = (*f)->reading;
      bool site_record = (*f)->type == RecordType::site_record;
      std::string value_key = site_record ? site_record_value_key(parse_site_record(rd)->id) : rd.value;
      j.insert.bind(1, static_cast<int64_t>(r.seq)).bind(2, rd.point_id).bind(3, rd.source).bind(4, rd.ts_ms)
          .bind(5, value_key).bind_blob(6, r.canonical).bind_blob(7, r.hash).bind_blob(8, r.signature);
      rc = j.insert.step();
      j.insert.reset();
      if (rc == SQLITE_DONE && sqlite3_changes(j.db) == 0) {
        stopped = "record " + std::to_string(r.seq) + ": a reading already held";
        break;
      }
      if (rc != SQLITE_DONE) {
        stopped = sqlite::error_of(j.db, rc, "store record " + std::to_string(r.seq)).to_string();
        store_failed = true;
        break;
      }
      if (auto t = j.tree.append(r.seq, merkle_leaf_hash(r.canonical)); !t) {
        stopped = t.error().to_string();
        store_failed = true;
        break;
      }
      if (site_record) {
        if (auto c = j.copy_site_record(r.seq, rd, r.canonical, r.hash, r.signature); !c) {
          stopped = c.error().to_string();
          store_failed = true;
          break;
        }
      }
      if ((*f)->type == RecordType::reading && !rd.point_id.empty()) {
        j.upsert_point_head.bind(1, rd.point_id).bind(2, static_cast<int64_t>(r.seq)).bind(3, rd.ts_ms);
        rc = j.upsert_point_head.step();
        j.upsert_point_head.reset();
        if (rc != SQLITE_DONE) {
          stopped = sqlite::error_of(j.db, rc, "update point heads").to_string();
          store_failed = true;
          break;
        }
      }
      j.last_seq = r.seq;
      j.last_hash_hex = to_hex(r.hash);
    }
    if (!store_failed) {
      rc = j.commit.step();
      j.commit.reset();
      if (rc == SQLITE_DONE) continue;
      stopped = sqlite::error_of(j.db, rc, "commit").to_string();
    }
    j.rollback.step();
    j.rollback.reset();
    j.tree.restore();
    j.last_seq = seq_before;
    j.last_hash_hex = std::move(hash_before);
  }
  std::string taken = j.last_seq >= first ? "seq " + std::to_string(first) + ".." + std::to_string(j.last_seq) +
                                                " taken back from the " + witness.name
                                          : "nothing taken back from the " + witness.name;
  if (!stopped.empty()) taken += " (stopped at seq " + std::to_string(j.last_seq + 1) + ": " + stopped + ")";
  return taken;
}

}  // namespace

Result<void> Journal::Impl::apply_chain_policy() {
  auto tail = check_chain_tail(*this, 256);
  if (!tail) return tl::unexpected(tail.error());
  std::vector<std::string> problems;
  if (!tail->intact) problems.push_back(tail->problem);

  // Witnesses of the head: the anchor file, then the caller's (state file, registry).
  std::vector<HeadWitness> witnesses;
  if (auto anchor = read_head_anchor(options.path)) witnesses.push_back({"head anchor", anchor->seq, anchor->hash_hex, {}});
  witnesses.insert(witnesses.end(), options.head_witnesses.begin(), options.head_witnesses.end());
  std::string ahead;  // what the witnesses beyond the journal's end name
  for (const HeadWitness& w : witnesses) {
    if (w.seq > last_seq) {
      ahead += (ahead.empty() ? "its " : ", its ") + w.name + " names seq " + std::to_string(w.seq) +
               (w.hash_hex.empty() ? "" : " hash " + w.hash_hex);
    } else if (!w.hash_hex.empty()) {
      sqlite::Statement s(db, "SELECT hash FROM records WHERE seq = ?1");
      s.bind(1, static_cast<int64_t>(w.seq));
      if (s.step() == SQLITE_ROW && to_hex(s.blob(0)) != w.hash_hex)
        problems.push_back("record " + std::to_string(w.seq) + " differs from the " + w.name + "'s hash " + w.hash_hex);
    }
  }
  if (!ahead.empty())
    problems.push_back("journal ends at seq " + std::to_string(last_seq) + " but " + ahead +
                       ": the journal was rolled back or replaced");
  if (problems.empty()) return {};
  chain_check.intact = false;
  for (const auto& p : problems) chain_check.problem += (chain_check.problem.empty() ? "" : "; ") + p;
  if (options.on_chain_break == ChainBreakPolicy::refuse)
    return fail(ErrorCode::corruption, options.path.string(),
                chain_check.problem + " (on_chain_break = \"refuse\"; see docs/journal.md)");

  // What a witness holds of the lost records comes back first, so its seqs are not
  // declared lost (and a registry's tree over them stays the journal's).
  for (const HeadWitness& w : witnesses)
    if (w.records && w.seq > last_seq) chain_check.problem += "; " + take_back(*this, w);

  // The old head: the journal's own, or the newest a witness names beyond it, with its
  // hash when a witness of that seq knows it (else prev names the journal's own head).
  const HeadWitness* newest = nullptr;
  for (const HeadWitness& w : witnesses)
    if (w.seq > last_seq && (!newest || w.seq > newest->seq || (w.seq == newest->seq && newest->hash_hex.empty())))
      newest = &w;
  uint64_t old_head_seq = newest ? newest->seq : last_seq;
  std::string old_head_hash = newest && !newest->hash_hex.empty() ? newest->hash_hex : last_hash_hex;

  // New chain segment: seq continues past the highest seq ever used, prev names the old
  // head, and the reason is in the record itself so every verifier sees it.
  AcceptedReading segment;
  segment.reading.ts_ms = utc_now_ms();
  segment.reading.quality = Quality::bad;
  segment.reading.reason = "new chain segment: " + chain_check.problem;
  segment.reading.source = "agent";
  segment.received = SystemClock().now();
  last_seq = old_head_seq;
  last_hash_hex = old_head_hash;
  int rc = begin.step();
  begin.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "begin chain segment"));
  tree.save();
  auto stored = insert_record(RecordType::chain_segment, segment);
  if (!stored || !*stored) {
    rollback.step();
    rollback.reset();
    tree.restore();
    if (!stored) return tl::unexpected(stored.error());
    return fail(ErrorCode::storage, options.path.string(), "chain-segment record not stored");
  }
  rc = commit.step();
  commit.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(db, rc, "commit chain segment"));
  write_head_anchor(options.path, {last_seq, last_hash_hex});
  return {};
}

Result<Journal> Journal::open_read_only(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    return fail(ErrorCode::not_found, path.string(), "no journal here (has the agent run?)");
  auto db = open_db(path, SQLITE_OPEN_READONLY);
  if (!db) return tl::unexpected(db.error());
  auto impl = std::make_unique<Impl>();
  impl->db = *db;
  impl->options.path = path;
  if (auto r = impl->load_head(); !r) return tl::unexpected(r.error());
  return Journal(std::move(impl));
}

Result<AppendOutcome> Journal::append(std::span<const AcceptedReading> batch,
                                      std::span<const QuarantinedMessage> quarantined) {
  Impl& j = *impl_;
  AppendOutcome out;
  uint64_t seq_before = j.last_seq;
  std::string hash_before = j.last_hash_hex;
  auto checkpoint_mark_before = j.checkpoint_mark;
  j.tree.save();
  int rc = j.begin.step();
  j.begin.reset();
  if (rc != SQLITE_DONE) return tl::unexpected(sqlite::error_of(j.db, rc, "begin batch"));
  auto undo = [&](Error e) -> Result<AppendOutcome> {
    j.rollback.step();
    j.rollback.reset();
    j.last_seq = seq_before;
    j.last_hash_hex = std::move(hash_before);
    j.tree.restore();
    j.checkpoint_mark = checkpoint_mark_before;
    return tl::unexpected(std::move(e));
  };
  j.batch_heads.clear();
  for (const AcceptedReading& a : batch) {
    size_t index = static_cast<size_t>(&a - batch.data());
    if (a.type != RecordType::reading) {  // a site record: no point head, not a live source
      if (auto r = j.append_site_record(a, index, out); !r) return undo(r.error());
      continue;
    }
    // JournalWriter::submit validated the reading, so only storage or crypto fails here:
    // the whole batch is undone and retried, never partly stored.
    auto stored = j.insert_record(RecordType::reading, a);
    if (!stored) return undo(stored.error());
    if (!*stored) {
      ++out.duplicates;
      out.duplicate_indexes.push_back(index);
      continue;
    }
    ++out.stored;
    auto [it, fresh] = j.batch_heads.try_emplace(a.reading.point_id, j.last_seq, a.reading.ts_ms);
    if (!fresh && a.reading.ts_ms >= it->second.second) it->second = {j.last_seq, a.reading.ts_ms};
  }
  for (const auto& [point, head] : j.batch_heads) {
    j.upsert_point_head.bind(1, point).bind(2, static_cast<int64_t>(head.first)).bind(3, head.second);
    rc = j.upsert_point_head.step();
    j.upsert_point_head.reset();
    if (rc != SQLITE_DONE) return undo(sqlite::error_of(j.db, rc, "update point heads"));
  }
  for (const QuarantinedMessage& q : quarantined) {
    j.insert_quarantine.bind(1, q.received_ms).bind(2, q.source).bind(3, q.subscription)
        .bind(4, q.topic).bind(5, q.reason).bind(6, q.detail).bind_blob(7, q.payload);
    rc = j.insert_quarantine.step();
    j.insert_quarantine.reset();
    if (rc != SQLITE_DONE) return undo(sqlite::error_of(j.db, rc, "quarantine a message"));
  }
  if (!quarantined.empty()) {
    j.trim_quarantine.bind(1, j.options.quarantine_max_rows);
    rc = j.trim_quarantine.step();
    j.trim_quarantine.reset();
    if (rc != SQLITE_DONE) return undo(sqlite::error_of(j.db, rc, "trim quarantine"));
  }
  auto now = std::chrono::steady_clock::now();
  if (const char* reason = j.checkpoint_reason(now); *reason)
    if (auto c = j.add_checkpoint(reason); !c) return undo(c.error());
  rc = j.commit.step();
  j.commit.reset();
  if (rc != SQLITE_DONE) return undo(sqlite::error_of(j.db, rc, "commit batch"));
  // The anchor lags by at most kAnchorInterval: four syscalls and a rename per commit
  // would cost more than the commit when commits are small (one MQTT message each).
  if (out.stored > 0 && now - j.anchor_written_at >= kAnchorInterval) {
    out.head_anchor_written = write_head_anchor(j.options.path, {j.last_seq, j.last_hash_hex});
    j.anchor_written_at = now;
    j.anchor_stale = false;
  } else if (out.stored > 0) {
    j.anchor_stale = true;
  }
  return out;
}

const ChainCheck& Journal::chain_check_at_open() const { return impl_->chain_check; }
uint64_t Journal::last_seq() const { return impl_->last_seq; }

}  // namespace mrv
