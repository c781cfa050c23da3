#pragma once
// The head anchor: a small file beside the journal naming the last committed record
// (seq and hash), rewritten (write + rename) after every commit. A journal whose tail is
// behind its anchor was rolled back (restored from a copy, lost commits to power loss)
// and is never silently continued.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace mrv {

struct HeadAnchor {
  uint64_t seq = 0;
  std::string hash_hex;
};

std::filesystem::path head_anchor_path(const std::filesystem::path& journal_path);
// nullopt when the file is missing or unreadable (the journal is then trusted as it is).
std::optional<HeadAnchor> read_head_anchor(const std::filesystem::path& journal_path);
// Best effort: a failure here costs rollback detection, never a reading. Returns false
// on failure so the caller can log it.
bool write_head_anchor(const std::filesystem::path& journal_path, const HeadAnchor& head);

}  // namespace mrv
