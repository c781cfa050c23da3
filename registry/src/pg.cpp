#include "pg.hpp"

#include <charconv>
#include <vector>

namespace mrv::registry::pg {

namespace {

// What a message may show of a connection: host, port and database, not the password.
std::string describe(PGconn* c) {
  const char* host = PQhost(c);
  const char* port = PQport(c);
  const char* db = PQdb(c);
  return std::string("postgresql ") + (host ? host : "?") + ":" + (port ? port : "?") + "/" + (db ? db : "?");
}

std::string trimmed(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

int64_t Rows::int64(int row, int col) const {
  std::string_view t = text(row, col);
  if (PQfformat(result_.get(), col) == 1) {
    uint64_t u = 0;
    for (size_t i = 0; i < t.size() && i < 8; ++i) u = u << 8 | static_cast<unsigned char>(t[i]);
    return static_cast<int64_t>(u);
  }
  int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

int64_t Rows::affected() const {
  std::string_view t = PQcmdTuples(result_.get());
  int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

Result<Connection> Connection::open(const std::string& url) {
  // A default the URL may override (it comes later): a host that does not answer is given
  // up after 10 s, not after the kernel's TCP timeout (minutes).
  const char* keywords[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"10", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (!c) return fail(ErrorCode::storage, "postgresql", "out of memory");
  Connection conn(c, describe(c));
  if (PQstatus(c) != CONNECTION_OK)
    return fail(ErrorCode::busy, conn.where_, "cannot connect: " + trimmed(PQerrorMessage(c)));
  // Notices (e.g. "relation already exists, skipping") are not for the registry's log.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  return conn;
}

Error Connection::error_of(const PGresult* r) const {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string sqlstate = state ? state : "";
  std::string message = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get()));
  if (message.empty()) message = trimmed(PQerrorMessage(conn_.get()));
  ErrorCode code = ErrorCode::storage;
  // 40001 serialization_failure, 40P01 deadlock_detected, class 08 connection exceptions,
  // 57P01..03 the server shutting down: the same request may succeed on a retry.
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate.starts_with("08") || sqlstate.starts_with("57P") ||
      PQstatus(conn_.get()) != CONNECTION_OK)
    code = ErrorCode::busy;
  else if (sqlstate == "53100")  // disk_full
    code = ErrorCode::storage_full;
  return Error{code, where_, (sqlstate.empty() ? "" : "[" + sqlstate + "] ") + message};
}

Result<Rows> Connection::exec(const char* sql, std::initializer_list<Param> params, Results results) {
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  std::vector<std::string> terminated;  // text parameters need a NUL after them
  terminated.reserve(params.size());
  for (const Param& p : params) {
    if (p.binary) {
      values.push_back(p.value.data());
    } else {
      values.push_back(terminated.emplace_back(p.value).c_str());
    }
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  int count = static_cast<int>(params.size()), format = results == Results::binary ? 1 : 0;
  auto name = count > 0 ? prepared(sql, count) : std::string();
  if (!name) return tl::unexpected(name.error());
  Rows rows(name->empty()
                ? PQexecParams(conn_.get(), sql, count, nullptr, values.data(), lengths.data(), formats.data(), format)
                : PQexecPrepared(conn_.get(), name->c_str(), count, values.data(), lengths.data(), formats.data(), format));
  // Null only when out of memory; error_of handles both.
  const PGresult* r = rows.raw();
  ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return tl::unexpected(error_of(r));
  return rows;
}

Result<std::string> Connection::prepared(const char* sql, int params) {
  constexpr size_t kMostPrepared = 64;  // the registry has a few dozen statements
  if (auto found = prepared_.find(sql); found != prepared_.end()) return found->second;
  if (prepared_.size() >= kMostPrepared) return std::string();
  std::string name = "mrv_" + std::to_string(prepared_.size() + 1);
  Rows made(PQprepare(conn_.get(), name.c_str(), sql, params, nullptr));
  if (!made.raw() || PQresultStatus(made.raw()) != PGRES_COMMAND_OK) return tl::unexpected(error_of(made.raw()));
  prepared_.emplace(sql, name);
  return name;
}

Result<void> Connection::exec_script(const char* sql) {
  Rows rows(PQexec(conn_.get(), sql));
  const PGresult* r = rows.raw();
  ExecStatusType status = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) return tl::unexpected(error_of(r));
  return {};
}

Result<void> Connection::reset() {
  PQreset(conn_.get());
  prepared_.clear();  // a new session holds none
  if (PQstatus(conn_.get()) != CONNECTION_OK)
    return fail(ErrorCode::busy, where_, "cannot reconnect: " + trimmed(PQerrorMessage(conn_.get())));
  where_ = describe(conn_.get());  // with several hosts in the URL, the one now connected
  return {};
}

namespace {

Error newer_schema(const Connection& db, std::string_view component, int64_t version, size_t known) {
  return Error{ErrorCode::storage, db.where(),
               std::string(component) + " schema version " + std::to_string(version) +
                   " is newer than this registry knows (" + std::to_string(known) + "): a newer mrv-registry wrote it"};
}

}  // namespace

Result<int64_t> check_schema(Connection& db, std::string_view component, size_t known) {
  auto table = db.exec("SELECT to_regclass('mrv_schema') IS NOT NULL");
  if (!table) return tl::unexpected(table.error());
  if (table->text(0, 0) != "t") return 0;
  auto current = db.exec("SELECT version FROM mrv_schema WHERE component = $1", {{component}});
  if (!current) return tl::unexpected(current.error());
  int64_t version = current->size() ? current->int64(0, 0) : 0;
  if (version > static_cast<int64_t>(known)) return tl::unexpected(newer_schema(db, component, version, known));
  if (version < 0)
    return fail(ErrorCode::corruption, db.where(), std::string(component) + " schema version " + std::to_string(version) +
                                                       " is not a version");
  return version;
}

Result<void> migrate(Connection& db, std::string_view component, std::initializer_list<const char*> steps) {
  auto rollback = [&](Error e) {
    (void)db.exec_script("ROLLBACK");
    return tl::unexpected(std::move(e));
  };
  if (auto r = db.exec_script("BEGIN"); !r) return r;
  // One lock for every component's migrations: the schema changes one process at a time.
  if (auto r = db.exec("SELECT pg_advisory_xact_lock(7261626)"); !r) return rollback(r.error());
  if (auto r = db.exec_script("CREATE TABLE IF NOT EXISTS mrv_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
      !r)
    return rollback(r.error());
  auto current = db.exec("SELECT version FROM mrv_schema WHERE component = $1", {{component}});
  if (!current) return rollback(current.error());
  int64_t version = current->size() ? current->int64(0, 0) : 0;
  if (version > static_cast<int64_t>(steps.size()))
    return rollback(newer_schema(db, component, version, steps.size()));
  if (version < 0)
    return rollback(Error{ErrorCode::corruption, db.where(),
                          std::string(component) + " schema version " + std::to_string(version) + " is not a version"});
  for (auto step = steps.begin() + version; step != steps.end(); ++step)
    if (auto r = db.exec_script(*step); !r) {
      Error e = r.error();
      e.message = std::string(component) + " migration step " + std::to_string(step - steps.begin() + 1) + ": " + e.message;
      return rollback(std::move(e));
    }
  std::string v = std::to_string(steps.size());
  if (auto r = db.exec("INSERT INTO mrv_schema (component, version) VALUES ($1, $2) "
                       "ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version",
                       {{component}, {v}});
      !r)
    return rollback(r.error());
  return db.exec_script("COMMIT");
}

Result<std::string> schema_line(const std::string& url, std::string_view component, size_t known) {
  auto db = Connection::open(url);
  if (!db) return tl::unexpected(db.error());
  auto version = check_schema(*db, component, known);
  if (!version) return tl::unexpected(version.error());
  return db->where() + ": " + std::string(component) + " schema v" + std::to_string(*version) + " of " +
         std::to_string(known) +
         (*version < static_cast<int64_t>(known) ? " (the registry migrates it at start)" : "");
}

}  // namespace mrv::registry::pg
