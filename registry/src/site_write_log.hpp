#pragma once
// The sites' accepted writes in the shared database ([database]): one append-only log per
// site, in order, under a per-site lock held in the database. Every registry process
// keeps its own copy of a site (its SQLite files) and, before each request, puts in force
// the writes other processes appended; a write is appended before it changes that copy.
// So uploads of one site reaching different processes stay exactly once and in order.
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "mrv/core/error.hpp"
#include "pg.hpp"

namespace mrv::registry {

// One accepted write of a site: what the request brought, as SiteStore logs it.
struct SiteWrite {
  uint64_t n = 0;    // 1, 2, ... per site
  std::string kind;  // key, config, records, checkpoint, report, tpm_challenge, tpm_activate
  std::string body;  // the request's bytes (records: the lines new to the registry)
  std::string extra; // checkpoint: the registry's cosignature line; config: its hash; ...
  int64_t at_ms = 0; // when it was accepted: times the write stores come from here

  // What a process compares to tell that its copy follows this database's log.
  std::string digest_hex() const;
};

class SiteWriteLog {
  struct Pool;

 public:
  // Connects (at most `connections` at a time) and brings the schema up to date.
  [[nodiscard]] static Result<std::unique_ptr<SiteWriteLog>> open(const std::string& url, size_t connections);
  // Reads only (check-config): the schema's version, as a line for the operator.
  [[nodiscard]] static Result<std::string> check(const std::string& url);
  ~SiteWriteLog();

  // A connection on loan, back to the pool when it goes.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pg::Connection& db() { return *db_; }
    bool held() const { return db_ != nullptr; }
    // A broken connection is not given back, so the next borrower opens a new one.
    void drop_if_broken();

   private:
    friend class SiteWriteLog;
    Lease(Pool& pool, std::unique_ptr<pg::Connection> db) : pool_(&pool), db_(std::move(db)) {}
    Pool* pool_;
    std::unique_ptr<pg::Connection> db_;
  };

  // A write in progress: a transaction holding the site's lock, so no other process
  // appends to the site until append() commits or the session ends (rolled back).
  class Session {
   public:
    Session(Session&&) noexcept = default;
    ~Session();
    // The writes after the copy's newest (see SiteWriteLog::newer), under the lock.
    [[nodiscard]] Result<void> newer(uint64_t after_n, const std::string& after_digest, std::vector<SiteWrite>& out);
    // Appends `w` (its n must be the next) and commits: the write is accepted. Gives its
    // digest.
    [[nodiscard]] Result<std::string> append(const SiteWrite& w);
    // Several writes accepted together, all or none (a site moved into the database):
    // add() each (it gives the write's digest), then commit(). A failure ends the session,
    // rolled back.
    [[nodiscard]] Result<std::string> add(const SiteWrite& w);
    [[nodiscard]] Result<void> commit();

   private:
    void abandon();  // rolls back, and drops a broken connection
    friend class SiteWriteLog;
    Session(Lease lease, std::string site) : lease_(std::move(lease)), site_(std::move(site)) {}
    Lease lease_;
    std::string site_;
    bool open_ = true;
  };

  // Takes the site's lock (waiting for another process's write to the site to end): a
  // write's.
  [[nodiscard]] Result<Session> lock(const std::string& site);
  // A page of the site's writes after `after_n` (at least one if there are any; about
  // 16 MiB at most), in order. `after_digest` (empty for 0) must be write after_n's
  // digest, else the database is not the one this copy followed (restored from an older
  // backup, or another database): corruption.
  [[nodiscard]] Result<void> newer(const std::string& site, uint64_t after_n, const std::string& after_digest,
                                   std::vector<SiteWrite>& out);
  // Each site's newest write (n), for the processes that follow the sites.
  [[nodiscard]] Result<std::vector<std::pair<std::string, uint64_t>>> heads();
  const std::string& where() const { return where_; }

 private:
  SiteWriteLog(std::unique_ptr<Pool> pool, std::string where);
  Result<Lease> borrow();
  static Result<void> fetch(pg::Connection& db, const std::string& site, uint64_t after_n,
                            const std::string& after_digest, std::vector<SiteWrite>& out);

  std::unique_ptr<Pool> pool_;
  std::string where_;
};

}  // namespace mrv::registry
