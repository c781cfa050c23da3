// The sites' write log in PostgreSQL: the table, the per-site lock, and a small pool of
// connections shared by the sites (each write or catch-up holds one for its duration).
#include "site_write_log.hpp"

#include "mrv/core/crypto.hpp"
#include "pg.hpp"

namespace mrv::registry {

namespace {

constexpr const char* kSchema = R"sql(
  CREATE TABLE site_writes (
    site TEXT NOT NULL, n BIGINT NOT NULL, kind TEXT NOT NULL, body BYTEA NOT NULL,
    extra TEXT NOT NULL, at_ms BIGINT NOT NULL, PRIMARY KEY (site, n));
  CREATE FUNCTION mrv_site_writes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'the sites'' write log is append-only'; END $$;
  CREATE TRIGGER site_writes_no_change BEFORE UPDATE OR DELETE ON site_writes
    FOR EACH ROW EXECUTE FUNCTION mrv_site_writes_append_only();
  CREATE TRIGGER site_writes_no_truncate BEFORE TRUNCATE ON site_writes
    FOR EACH STATEMENT EXECUTE FUNCTION mrv_site_writes_append_only();
  CREATE TABLE site_heads (site TEXT PRIMARY KEY, n BIGINT NOT NULL);
)sql";
// Each write's digest kept beside it (null in writes logged before this step), so that a
// catch-up checks the copy's newest write without reading its body back; new bodies
// compressed with lz4 where the server has it (cheaper than pglz for the same size).
constexpr const char* kDigestAndLz4 = R"sql(
  ALTER TABLE site_writes ADD COLUMN digest TEXT;
  DO $$ BEGIN
    ALTER TABLE site_writes ALTER COLUMN body SET COMPRESSION lz4;
  EXCEPTION WHEN feature_not_supported THEN NULL;
  END $$;
)sql";
// The schema's steps: appended, never edited (pg::migrate).
const std::initializer_list<const char*> kSteps = {kSchema, kDigestAndLz4};

// The advisory lock's first key: the sites' locks apart from the migration's.
constexpr const char* kSiteLockClass = "1936288884";  // "site" in ASCII

// A page, in binary: write $3 (the copy's newest, if any: its digest only, computed here
// for a write logged without one), then at least one more write and up to about 16 MiB
// of bodies (a new process catching up a long history does not hold all of it at once).
constexpr const char* kPage =
    "SELECT n, kind, CASE WHEN n > $3 THEN body END, extra, at_ms, CASE WHEN n = $3 THEN coalesce(digest, encode("
    "  sha256(convert_to(kind || E'\\n' || n || E'\\n' || at_ms || E'\\n' || extra || E'\\n', 'UTF8') || body), 'hex')) END "
    "FROM (SELECT n, kind, body, extra, at_ms, digest, size, sum(size) OVER (ORDER BY n) AS upto FROM ("
    "    SELECT n, kind, body, extra, at_ms, digest, CASE WHEN n > $3 THEN octet_length(body) ELSE 0 END AS size"
    "    FROM site_writes WHERE site = $1 AND n >= $2 ORDER BY n LIMIT 256) w) page "
    "WHERE upto - size < 16777216 ORDER BY n";

}  // namespace

std::string SiteWrite::digest_hex() const {
  std::string bytes = kind + '\n' + std::to_string(n) + '\n' + std::to_string(at_ms) + '\n' + extra + '\n';
  Sha256Stream h;
  h.update(bytes);
  h.update(body);
  return to_hex(h.finish());
}

struct SiteWriteLog::Pool {
  std::string url;
  size_t max = 1, opened = 0;
  std::mutex mutex;
  std::condition_variable freed;
  std::vector<std::unique_ptr<pg::Connection>> idle;
};

SiteWriteLog::SiteWriteLog(std::unique_ptr<Pool> pool, std::string where)
    : pool_(std::move(pool)), where_(std::move(where)) {}
SiteWriteLog::~SiteWriteLog() = default;

SiteWriteLog::Lease::Lease(Lease&& other) noexcept : pool_(other.pool_), db_(std::move(other.db_)) {}

SiteWriteLog::Lease::~Lease() {
  if (!db_) return;
  std::lock_guard lock(pool_->mutex);
  pool_->idle.push_back(std::move(db_));
  pool_->freed.notify_one();
}

void SiteWriteLog::Lease::drop_if_broken() {
  if (!db_ || !db_->broken()) return;
  db_.reset();
  std::lock_guard lock(pool_->mutex);
  --pool_->opened;
  pool_->freed.notify_one();
}

Result<SiteWriteLog::Lease> SiteWriteLog::borrow() {
  Pool& p = *pool_;
  std::unique_lock lock(p.mutex);
  p.freed.wait(lock, [&] { return !p.idle.empty() || p.opened < p.max; });
  if (!p.idle.empty()) {
    auto db = std::move(p.idle.back());
    p.idle.pop_back();
    return Lease(p, std::move(db));
  }
  ++p.opened;
  lock.unlock();
  auto db = pg::Connection::open(p.url);
  if (!db) {
    lock.lock();
    --p.opened;
    p.freed.notify_one();
    return tl::unexpected(db.error());
  }
  return Lease(p, std::make_unique<pg::Connection>(std::move(*db)));
}

Result<std::unique_ptr<SiteWriteLog>> SiteWriteLog::open(const std::string& url, size_t connections) {
  auto db = pg::Connection::open(url);
  if (!db) return tl::unexpected(db.error());
  if (auto r = pg::migrate(*db, "sites", kSteps); !r) return tl::unexpected(r.error());
  auto pool = std::make_unique<Pool>();
  pool->url = url;
  pool->max = std::max<size_t>(1, connections);
  pool->opened = 1;
  std::string where = db->where();
  pool->idle.push_back(std::make_unique<pg::Connection>(std::move(*db)));
  return std::unique_ptr<SiteWriteLog>(new SiteWriteLog(std::move(pool), std::move(where)));
}

Result<std::string> SiteWriteLog::check(const std::string& url) {
  return pg::schema_line(url, "sites", kSteps.size());
}

Result<void> SiteWriteLog::fetch(pg::Connection& db, const std::string& site, uint64_t after_n,
                                 const std::string& after_digest, std::vector<SiteWrite>& out) {
  out.clear();
  std::string from = std::to_string(after_n == 0 ? 1 : after_n), newest = std::to_string(after_n);
  auto rows = db.exec(kPage, {{site}, {from}, {newest}}, pg::Results::binary);
  if (!rows) return tl::unexpected(rows.error());
  int i = 0;
  auto gone = [&](const std::string& why) {
    return fail(ErrorCode::corruption, db.where(),
                "site '" + site + "': write " + std::to_string(after_n) + ", the newest in this process's copy, " +
                    why + " (the database was restored from an older backup, or is another one): move the site's "
                    "files in data_dir/sites away so that this process rebuilds them from the database");
  };
  for (; i < rows->size(); ++i) {
    SiteWrite w;
    w.n = static_cast<uint64_t>(rows->int64(i, 0));
    if (after_n > 0 && i == 0) {
      if (w.n != after_n) return gone("is not in the database");
      if (rows->text(i, 5) != after_digest) return gone("differs from the database's");
      continue;
    }
    w.kind = rows->text(i, 1);
    w.body = rows->text(i, 2);
    w.extra = rows->text(i, 3);
    w.at_ms = rows->int64(i, 4);
    out.push_back(std::move(w));
  }
  if (after_n > 0 && rows->size() == 0) return gone("is not in the database");
  return {};
}

Result<void> SiteWriteLog::newer(const std::string& site, uint64_t after_n, const std::string& after_digest,
                                 std::vector<SiteWrite>& out) {
  auto lease = borrow();
  if (!lease) return tl::unexpected(lease.error());
  auto r = pg::with_reconnect(lease->db(), [&] { return fetch(lease->db(), site, after_n, after_digest, out); });
  lease->drop_if_broken();
  return r;
}

Result<std::vector<std::pair<std::string, uint64_t>>> SiteWriteLog::heads() {
  auto lease = borrow();
  if (!lease) return tl::unexpected(lease.error());
  auto rows = pg::with_reconnect(lease->db(), [&] { return lease->db().exec("SELECT site, n FROM site_heads"); });
  lease->drop_if_broken();
  if (!rows) return tl::unexpected(rows.error());
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(rows->size());
  for (int i = 0; i < rows->size(); ++i) out.emplace_back(rows->text(i, 0), static_cast<uint64_t>(rows->int64(i, 1)));
  return out;
}

Result<SiteWriteLog::Session> SiteWriteLog::lock(const std::string& site) {
  auto lease = borrow();
  if (!lease) return tl::unexpected(lease.error());
  pg::Connection& db = lease->db();
  auto begun = pg::with_reconnect(db, [&] { return db.exec("BEGIN"); });
  if (begun)
    begun = db.exec(("SELECT pg_advisory_xact_lock(" + std::string(kSiteLockClass) + ", hashtext($1))").c_str(), {{site}});
  if (!begun) {
    (void)db.exec("ROLLBACK");
    lease->drop_if_broken();
    return tl::unexpected(begun.error());
  }
  return Session(std::move(*lease), site);
}

SiteWriteLog::Session::~Session() {
  if (lease_.held() && open_) abandon();
}

Result<void> SiteWriteLog::Session::newer(uint64_t after_n, const std::string& after_digest,
                                          std::vector<SiteWrite>& out) {
  return fetch(lease_.db(), site_, after_n, after_digest, out);
}

Result<std::string> SiteWriteLog::Session::append(const SiteWrite& w) {
  auto added = add(w);
  if (!added) return added;
  if (auto r = commit(); !r) return tl::unexpected(r.error());
  return added;
}

Result<std::string> SiteWriteLog::Session::add(const SiteWrite& w) {
  if (!open_) return fail(ErrorCode::storage, "site '" + site_ + "'", "the write's transaction has ended");
  std::string n = std::to_string(w.n), at = std::to_string(w.at_ms), digest = w.digest_hex();
  auto done = lease_.db().exec(
      "WITH w AS (INSERT INTO site_writes (site, n, kind, body, extra, at_ms, digest)"
      "  VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING site, n) "
      "INSERT INTO site_heads (site, n) SELECT site, n FROM w ON CONFLICT (site) DO UPDATE SET n = EXCLUDED.n",
      {{site_}, {n}, {w.kind}, {w.body, true}, {w.extra}, {at}, {digest}});
  if (!done) {
    abandon();
    return tl::unexpected(done.error());
  }
  return digest;
}

Result<void> SiteWriteLog::Session::commit() {
  auto done = lease_.db().exec("COMMIT");
  open_ = false;
  // Not stored, or (a lost connection during COMMIT) stored without our knowing: the
  // caller does not change its copy, and its next catch-up reads what is there.
  if (!done) {
    abandon();
    return tl::unexpected(done.error());
  }
  return {};
}

void SiteWriteLog::Session::abandon() {
  (void)lease_.db().exec("ROLLBACK");
  open_ = false;
  lease_.drop_if_broken();
}

}  // namespace mrv::registry
