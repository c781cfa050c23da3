#pragma once
// A thin RAII layer over libpq for the registry's PostgreSQL engine: one connection,
// parameterised statements (values never spliced into SQL), results read by row and
// column, and errors that keep PostgreSQL's SQLSTATE so callers can tell a lost
// connection or a serialisation failure (retry) from a refusal (report).
#include <libpq-fe.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "mrv/core/error.hpp"

namespace mrv::registry::pg {

// One statement parameter: text, or raw bytes (binary = true) for a bytea column.
struct Param {
  std::string_view value;
  bool binary = false;
};

// How a statement's rows come back: as text, or in PostgreSQL's binary format (bytea as
// its bytes, not hex; a bigint as 8 bytes, big-endian).
enum class Results { text, binary };

class Rows {
 public:
  explicit Rows(PGresult* r) : result_(r, &PQclear) {}
  int size() const { return PQntuples(result_.get()); }
  bool is_null(int row, int col) const { return PQgetisnull(result_.get(), row, col) != 0; }
  // A column's bytes (its text, or in binary results its raw value).
  std::string_view text(int row, int col) const {
    return {PQgetvalue(result_.get(), row, col), static_cast<size_t>(PQgetlength(result_.get(), row, col))};
  }
  int64_t int64(int row, int col) const;  // a bigint, in either format
  // Rows an INSERT, UPDATE or DELETE changed.
  int64_t affected() const;
  const PGresult* raw() const { return result_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> result_;
};

class Connection {
 public:
  // `url`: a libpq connection string or URI. Errors name the server, never the password.
  [[nodiscard]] static Result<Connection> open(const std::string& url);

  // Runs one statement; one with parameters is prepared on its first run in this session
  // and reused (parsed and planned once). A failure's message starts with the SQLSTATE in brackets;
  // ErrorCode::busy marks what is worth retrying (a serialisation failure, a deadlock, a
  // lost connection), ErrorCode::storage_full a full disk.
  [[nodiscard]] Result<Rows> exec(const char* sql, std::initializer_list<Param> params = {},
                                  Results results = Results::text);
  // Several statements without parameters (a migration step).
  [[nodiscard]] Result<void> exec_script(const char* sql);
  // Reconnects after the server restarted or the connection broke.
  [[nodiscard]] Result<void> reset();
  bool broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }
  const std::string& where() const { return where_; }

 private:
  Connection(PGconn* c, std::string where) : conn_(c, &PQfinish), where_(std::move(where)) {}
  Error error_of(const PGresult* r) const;
  // The name `sql` is prepared under in this session ("" when too many are: run unnamed).
  Result<std::string> prepared(const char* sql, int params);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  std::unordered_map<std::string, std::string> prepared_;  // SQL → its statement's name
  std::string where_;  // "postgresql host:port/db", for messages
};

// Runs `statement` (a callable returning Result<...>); after a broken connection (the
// server restarted, or dropped an idle connection) reconnects and runs it once more. Only
// for a statement that may run twice: the first of a transaction, or one that is idempotent.
template <typename F>
auto with_reconnect(Connection& db, F statement) -> decltype(statement()) {
  auto r = statement();
  if (r || !db.broken()) return r;
  if (auto again = db.reset(); !again) return tl::unexpected(again.error());
  return statement();
}

// Applies, in one transaction under an advisory lock (so processes starting together
// apply each step once), the steps of `component` the database has not had yet.
// Step i takes the component from version i to i + 1; steps are appended, never edited.
[[nodiscard]] Result<void> migrate(Connection& db, std::string_view component,
                                   std::initializer_list<const char*> steps);
// Reads only: whether migrate() could bring `component` to `known` steps (a schema newer
// than that is an error). The version found: 0 for a database the registry never used.
[[nodiscard]] Result<int64_t> check_schema(Connection& db, std::string_view component, size_t known);
// For check-config: connects to `url` and says, in one line, where `component`'s schema
// stands ("postgresql HOST:PORT/DB: audit schema v1 of 1"), or why not.
[[nodiscard]] Result<std::string> schema_line(const std::string& url, std::string_view component, size_t known);

}  // namespace mrv::registry::pg
