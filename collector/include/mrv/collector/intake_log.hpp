#pragma once
// An MQTT source's intake log: each accepted message (receive time, topic, payload) is
// appended with one write(2) before the callback returns and Paho acknowledges it, so the
// journal writer can sign and commit in batches behind the acknowledgement.
//
// Durability is the journal's `synchronous` level: at "normal" a write(2) survives kill -9
// (the page cache keeps it), as a WAL commit does; at "full" (or "extra") each append is
// fdatasync()ed before it returns, so it survives power loss. A segment is deleted once
// the journal has committed every reading its entries produced; at start the segments left
// over are replayed (the journal's unique index stores a reading once). docs/mqtt.md.
//
// Segment file `intake-<16 hex digits>.log`: the 8 bytes "MRVINTK1", then entries:
//   u32 LE body length, u32 LE CRC-32 (zlib) of the body, body =
//   i64 LE receive time (ms since the Unix epoch), u16 LE topic length, topic, payload.
// A torn or corrupt entry ends its segment (power loss tears only the tail). With
// sync_each a new segment is first filled with zeros to its rotation size, so each
// fdatasync flushes data only; zeros after the last entry are a clean end.
#include <chrono>
#include <cstdint>
#include <optional>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/core/error.hpp"

namespace mrv::collector {

struct IntakeEntry {
  int64_t recv_ms = 0;
  std::string_view topic, payload;
};

inline constexpr size_t kIntakeMaxTopic = 65535;
inline constexpr size_t kIntakeMaxBody = 16u << 20;  // larger entries are corrupt

// Reads one segment's bytes; calls `on_entry` for each intact entry in order. Returns the
// offset where reading stopped: the size when the segment is whole, less when the rest is
// torn or corrupt. Never throws on any input (a fuzz target runs it).
size_t parse_intake_segment(std::string_view bytes, const std::function<void(const IntakeEntry&)>& on_entry);

class IntakeLog {
 public:
  using Ticket = uint64_t;
  // Opens (creates) the folder; nothing is read or written yet. `sync_each`: fdatasync
  // every append. Segments rotate after `segment_bytes`.
  IntakeLog(std::filesystem::path dir, bool sync_each, size_t segment_bytes = 8u << 20);
  ~IntakeLog();
  IntakeLog(const IntakeLog&) = delete;
  IntakeLog& operator=(const IntakeLog&) = delete;

  struct Replayed {
    size_t segments = 0, entries = 0;
    std::vector<std::string> torn;  // "file: offset N of M" for each segment cut short
  };
  // Calls `on_entry` for every entry the segments left by an earlier run hold, oldest
  // first; it returns the last journal ticket the entry produced (0: none). Those
  // segments are deleted by release() once that ticket is committed.
  Result<Replayed> replay(const std::function<Ticket(const IntakeEntry&)>& on_entry);
  // One entry, one write(2) (and an fdatasync when sync_each). On an error nothing of the
  // entry stays in the file.
  Result<void> append(int64_t recv_ms, std::string_view topic, std::string_view payload);
  // The last entry appended produced readings up to `ticket`.
  void produced(Ticket ticket) {
    if (!segments_.empty()) segments_.back().last_ticket = std::max(segments_.back().last_ticket, ticket);
  }
  // Deletes the segments whose every reading is committed (`committed_through`), and
  // rotates the segment being written when it is full (`closing`: closes it, so it goes
  // too once committed: a clean stop leaves nothing to replay).
  void release(Ticket committed_through, bool closing = false);
  // Segments on disk, the one being written included.
  size_t segment_count() const { return segments_.size(); }

 private:
  struct Segment {
    uint64_t id;
    Ticket last_ticket = 0;
  };
  std::filesystem::path path_of(uint64_t id) const;
  Result<void> open_new_segment();

  std::filesystem::path dir_;
  bool sync_each_;
  size_t segment_bytes_;
  std::vector<Segment> segments_;  // oldest first; the last one is written (when fd_ >= 0)
  int fd_ = -1;
  size_t size_ = 0;    // of the segment being written
  std::string entry_;  // reused buffer: one write(2) per entry
  // A segment that could not be created (a full disk) is not tried again before this,
  // so a full disk costs one failed attempt a second, not one per message.
  std::chrono::steady_clock::time_point next_open_;
  std::optional<Error> open_failure_;
};

}  // namespace mrv::collector
