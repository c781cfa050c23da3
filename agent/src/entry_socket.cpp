#include "entry_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "entry_request.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"

namespace mrv::agent {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

struct EntrySocket::State {
  State(asio::io_context& io, JournalWriter& writer, const Config& config)
      : io(io), writer(writer), config(&config), path(config.journal.control_socket) {}
  asio::io_context& io;
  JournalWriter& writer;
  const Config* config;
  std::filesystem::path path;
  std::optional<local::acceptor> acceptor;
  std::map<uint64_t, local::socket*> open;  // connections being served, to close at stop()
  uint64_t next_id = 0;
  bool stopped = false;
  std::chrono::steady_clock::time_point last_refusal_logged{};
};

namespace {

using Clk = std::chrono::steady_clock;

// Closes `socket` when the timer expires; cancelled (no-op) otherwise. The handler holds
// the socket: an expiry already queued when the connection ends closes a closed socket.
void close_at(asio::steady_timer& timer, const std::shared_ptr<local::socket>& socket, std::chrono::milliseconds after) {
  timer.expires_after(after);
  timer.async_wait([socket](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    if (!ec) socket->close(ignored);
  });
}

// A client's text for the log: one line (control bytes as '?'), at most 300 bytes.
std::string for_log(std::string text) {
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return text;
}

std::string peer_login(local::socket& socket) {
  ucred cred{};
  socklen_t size = sizeof cred;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &size) != 0) return "";
  return login_name(cred.uid);
}

// The answer to one request line from `login` ("" when the kernel did not say).
asio::awaitable<std::string> handle(std::shared_ptr<EntrySocket::State> s, std::string line, std::string login) {
  if (login.empty()) co_return entry_refusal("the kernel did not say who is connected (SO_PEERCRED)");
  auto entry = accept_entry(line, *s->config, login, utc_now_ms());
  if (!entry) {
    log::warning("record from " + login + " refused: " + for_log(entry.error().to_string()));
    co_return entry_refusal(entry.error().to_string());
  }
  auto ticket = s->writer.submit_site_record(entry->reading);
  if (!ticket) {
    log::warning("record from " + login + " not accepted by the journal: " + ticket.error().to_string());
    co_return entry_refusal("the journal does not accept it now: " + ticket.error().to_string());
  }
  // Polled from the event loop (the first poll makes the writer commit at once): a
  // blocking wait would stall the agent's sources.
  auto until = Clk::now() + kEntryCommitTimeout;
  asio::steady_timer pause(s->io);
  boost::system::error_code ec;
  for (;;) {
    auto done = s->writer.wait_site_record(*ticket, std::chrono::milliseconds(0));
    if (done) {
      const SiteRecord& r = entry->record;
      log::notice("record " + std::string(done->duplicate ? "held already at" : "entered at") + " seq " +
                  std::to_string(done->seq) + ": " + std::string(to_string(r.kind)) +
                  (r.point.empty() ? "" : " of " + r.point) + " by " + for_log(r.entered_by) + " (" + login +
                  "), id " + r.id);
      co_return entry_answer(*done);
    }
    if (done.error().code != ErrorCode::busy || Clk::now() >= until)
      co_return entry_refusal("queued but not committed: " + done.error().to_string() +
                              "; retry with the same id (--id " + entry->record.id + ")");
    pause.expires_after(std::chrono::milliseconds(10));
    co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> serve(std::shared_ptr<EntrySocket::State> s, std::shared_ptr<local::socket> connection) {
  local::socket& socket = *connection;
  uint64_t id = s->next_id++;
  s->open.emplace(id, &socket);
  asio::steady_timer deadline(s->io);
  boost::system::error_code ec;
  std::string buffer;
  close_at(deadline, connection, kEntryReadTimeout);
  size_t n = co_await asio::async_read_until(socket, asio::dynamic_buffer(buffer, kEntryRequestMaxBytes + 1), '\n',
                                             asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
  std::string answer;
  if (ec == asio::error::not_found) {
    answer = entry_refusal("request: longer than " + std::to_string(kEntryRequestMaxBytes) + " bytes");
  } else if (ec && !(ec == asio::error::eof && !buffer.empty())) {  // a last line without its newline is taken
    s->open.erase(id);
    co_return;  // closed, timed out, or stopped: nobody to answer
  } else {
    std::string line = buffer.substr(0, ec ? buffer.size() : n - 1);
    answer = co_await handle(s, std::move(line), peer_login(socket));
  }
  if (socket.is_open()) {
    answer += '\n';
    close_at(deadline, connection, kEntryReadTimeout);
    co_await asio::async_write(socket, asio::buffer(answer), asio::redirect_error(asio::use_awaitable, ec));
    deadline.cancel();
  }
  socket.close(ec);
  s->open.erase(id);
}

asio::awaitable<void> accept_loop(std::shared_ptr<EntrySocket::State> s) {
  boost::system::error_code ec;
  while (!s->stopped) {
    local::socket socket = co_await s->acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (s->stopped) break;
    if (ec) {  // out of file descriptors, and the like: try again a little later
      asio::steady_timer pause(s->io, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (s->open.size() >= kMaxEntryConnections) {
      auto now = Clk::now();
      if (now - s->last_refusal_logged > std::chrono::minutes(1)) {
        log::warning("record: " + std::to_string(s->open.size()) + " entries in progress: closing new connections");
        s->last_refusal_logged = now;
      }
      // Best effort, never waiting: a short line fits any socket buffer.
      std::string busy = entry_refusal("busy: " + std::to_string(kMaxEntryConnections) +
                                       " entries in progress, try again") + "\n";
      socket.non_blocking(true, ec);
      socket.write_some(asio::buffer(busy), ec);
      socket.close(ec);
      continue;
    }
    asio::co_spawn(s->io, serve(s, std::make_shared<local::socket>(std::move(socket))), asio::detached);
  }
}

// A socket file left by an agent that died (nothing listens) is removed; anything else
// at the path is an error.
Result<void> clear_stale(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return fail(ErrorCode::io, path.string(), std::strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode))
    return fail(ErrorCode::config, path.string(), "exists and is not a socket (journal.control_socket)");
  asio::io_context io;
  local::socket probe(io);
  boost::system::error_code ec;
  probe.connect(local::endpoint(path.string()), ec);
  if (!ec) return fail(ErrorCode::io, path.string(), "another process listens on this control socket");
  std::error_code removed;
  if (std::filesystem::remove(path, removed); removed)
    return fail(ErrorCode::io, path.string(), "cannot remove: " + removed.message());
  return {};
}

}  // namespace

EntrySocket::EntrySocket(asio::io_context& io, JournalWriter& writer, const Config& config)
    : state_(std::make_shared<State>(io, writer, config)) {}

EntrySocket::~EntrySocket() { stop(); }

Result<void> EntrySocket::start() {
  State& s = *state_;
  if (auto r = clear_stale(s.path); !r) return r;
  boost::system::error_code ec;
  local::endpoint endpoint(s.path.string());
  s.acceptor.emplace(s.io);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  // Group members may connect (enter records), others not; the umask made it tighter
  // meanwhile, never looser.
  if (!ec && ::chmod(s.path.c_str(), 0660) != 0) ec.assign(errno, boost::system::system_category());
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.acceptor.reset();
    return fail(ErrorCode::io, s.path.string(), "cannot listen on the control socket: " + ec.message());
  }
  asio::co_spawn(s.io, accept_loop(state_), asio::detached);
  return {};
}

void EntrySocket::apply_config(const Config& config) { state_->config = &config; }

void EntrySocket::stop() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  boost::system::error_code ec;
  if (s.acceptor) {
    s.acceptor->close(ec);
    std::error_code removed;
    std::filesystem::remove(s.path, removed);
  }
  std::vector<local::socket*> open;
  for (auto& [id, socket] : s.open) open.push_back(socket);
  for (auto* socket : open) socket->close(ec);  // their coroutines end with operation_aborted
}

}  // namespace mrv::agent
