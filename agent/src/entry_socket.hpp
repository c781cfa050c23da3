#pragma once
// The control socket: how a site record a person enters (`mrv-agent record`) reaches the
// journal's one writer while the agent runs. `run` owns it on its io_context: a Unix
// stream socket at [journal] control_socket, mode 0660, so the members of the agent's
// group may enter records (docs/operations.md).
//
// One request per connection: one JSON line (entry_request.hpp) of at most
// kEntryRequestMaxBytes, received within kEntryReadTimeout of the connection; at most
// kMaxEntryConnections at once (more are answered busy and closed). Nothing the client
// says is trusted: the entry is rebuilt and checked against the running config, its
// source is "operator:" and the login of the peer's uid (SO_PEERCRED), and the answer
// is written once the journal has committed it (within kEntryCommitTimeout), so an
// answered entry survives kill -9.
//
// Lifetime: stop() closes the acceptor and every connection and removes the socket
// file; the coroutines hold the shared state, so the object may be destroyed before the
// io_context (after stop()).
#include <chrono>
#include <filesystem>
#include <memory>

#include "mrv/core/asio.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/error.hpp"
#include "mrv/core/journal_writer.hpp"

namespace mrv::agent {

inline constexpr std::chrono::milliseconds kEntryReadTimeout{5'000};    // the request line, from the connection
inline constexpr std::chrono::milliseconds kEntryCommitTimeout{10'000};  // the commit, then a refusal
inline constexpr size_t kMaxEntryConnections = 4;

class EntrySocket {
 public:
  // `config` must outlive the socket or the next apply_config (run keeps every config).
  EntrySocket(boost::asio::io_context& io, JournalWriter& writer, const Config& config);
  ~EntrySocket();  // stop()s
  EntrySocket(const EntrySocket&) = delete;
  EntrySocket& operator=(const EntrySocket&) = delete;

  // Binds config.journal.control_socket (a stale socket file a dead agent left is
  // replaced), makes it mode 0660 and serves. Errors: the path is something else than a
  // socket, another process listens there, or bind/listen fail.
  [[nodiscard]] Result<void> start();
  // A reload: entries from now on are checked against `config` (same socket path).
  void apply_config(const Config& config);
  void stop();

  struct State;  // shared with the coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace mrv::agent
