#pragma once
// A thin RAII layer over the SQLite C API: a connection and prepared statements that
// are reset, not re-prepared, on the hot path.
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv::sqlite {

class Statement {
 public:
  Statement() = default;
  Statement(sqlite3* db, const char* sql);
  Statement(Statement&& o) noexcept : stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&& o) noexcept {
    std::swap(stmt_, o.stmt_);
    return *this;
  }
  ~Statement() { sqlite3_finalize(stmt_); }

  bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, std::string_view text) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind_blob(int i, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
    return *this;
  }
  int step() { return sqlite3_step(stmt_); }
  // Resets and clears bindings so the statement can run again.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string_view text(int col) const {
    auto p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  std::string_view blob(int col) const {
    auto p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string_view(p, static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Executes SQL without results; the error names the statement's purpose.
[[nodiscard]] Result<void> exec(sqlite3* db, const char* sql, std::string_view what);
Error error_of(sqlite3* db, int rc, std::string_view what);

// Whether the database has this table (a journal an older agent wrote may lack one).
inline bool has_table(sqlite3* db, std::string_view name) {
  Statement exists(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  exists.bind(1, name);
  return exists.step() == SQLITE_ROW;
}

}  // namespace mrv::sqlite
