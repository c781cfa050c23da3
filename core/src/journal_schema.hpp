#pragma once
// The journal's SQLite schema and its migrations (PRAGMA user_version).
#include <sqlite3.h>

#include "mrv/core/error.hpp"

namespace mrv {

inline constexpr int kJournalSchemaVersion = 6;

// Brings a new or older journal to kJournalSchemaVersion in one transaction each step;
// refuses a journal made by a newer agent.
[[nodiscard]] Result<void> migrate_journal(sqlite3* db);

}  // namespace mrv
