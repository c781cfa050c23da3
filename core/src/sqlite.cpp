#include "sqlite.hpp"

#include <stdexcept>

namespace mrv::sqlite {

Statement::Statement(sqlite3* db, const char* sql) {
  if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
    // Our own SQL failing to prepare is a programming error, not an expected failure.
    throw std::logic_error(std::string("SQL prepare failed: ") + sqlite3_errmsg(db) + ": " + sql);
}

Error error_of(sqlite3* db, int rc, std::string_view what) {
  int primary = rc & 0xFF;
  ErrorCode code = primary == SQLITE_FULL ? ErrorCode::storage_full
                   : primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? ErrorCode::corruption
                   : primary == SQLITE_BUSY || primary == SQLITE_LOCKED    ? ErrorCode::busy
                                                                         : ErrorCode::storage;
  return Error{code, std::string(what), db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)};
}

Result<void> exec(sqlite3* db, const char* sql, std::string_view what) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    Error e = error_of(db, rc, what);
    if (msg) e.message = msg;
    sqlite3_free(msg);
    return tl::unexpected(std::move(e));
  }
  return {};
}

}  // namespace mrv::sqlite
