#include "record_delivery.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "entry_socket.hpp"
#include "mrv/core/clock.hpp"

namespace mrv::agent {
namespace {

// The agent answers within its commit timeout; a little more for the trip.
constexpr int kAnswerTimeoutS = static_cast<int>(kEntryCommitTimeout.count() / 1000) + 5;
// How long an agent that holds the journal may take to open its socket (it is starting).
constexpr auto kAgentStartWait = std::chrono::seconds(5);

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// What one attempt over the socket came to.
struct Attempt {
  enum { no_agent, answered, lost, unreachable } outcome = no_agent;
  std::string answer;  // the answer line (answered)
  std::string why;     // errno text (lost, unreachable)
};

Attempt ask_agent(const std::filesystem::path& path, const std::string& line) {
  Fd sock{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (sock.fd < 0) return {Attempt::unreachable, "", std::strerror(errno)};
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);  // config load checked the length
  if (::connect(sock.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) return {Attempt::no_agent, "", std::strerror(err)};
    return {Attempt::unreachable, "", std::strerror(err)};
  }
  timeval timeout{kAnswerTimeoutS, 0};
  ::setsockopt(sock.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string out = line + "\n";
  for (size_t sent = 0; sent < out.size();) {
    ssize_t n = ::send(sock.fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return {Attempt::lost, "", n < 0 ? std::strerror(errno) : "closed"};
    sent += static_cast<size_t>(n);
  }
  std::string answer;
  char buf[4096];
  while (answer.find('\n') == std::string::npos && answer.size() < kEntryRequestMaxBytes) {
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) return {Attempt::lost, "", errno == EAGAIN ? "no answer within " + std::to_string(kAnswerTimeoutS) + " s"
                                                          : std::strerror(errno)};
    answer.append(buf, static_cast<size_t>(n));
  }
  if (answer.find('\n') == std::string::npos) return {Attempt::lost, "", "the agent closed without an answer"};
  return {Attempt::answered, answer.substr(0, answer.find('\n')), ""};
}

Result<SiteRecordCommit> read_answer(const std::string& line) {
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean())
    return fail(ErrorCode::io, "control socket", "the agent's answer is not understood: " + line.substr(0, 200));
  if (!j["ok"].get<bool>())
    return fail(ErrorCode::invalid_argument, "",
                "the agent refused it: " + (j.contains("error") && j["error"].is_string() ? j["error"].get<std::string>()
                                                                                         : std::string("(no reason)")));
  SiteRecordCommit c;
  if (!j.contains("seq") || !j["seq"].is_number_unsigned() || !j.contains("hash") || !j["hash"].is_string())
    return fail(ErrorCode::io, "control socket", "the agent's answer lacks seq or hash: " + line.substr(0, 200));
  c.seq = j["seq"].get<uint64_t>();
  c.hash_hex = j["hash"].get<std::string>();
  c.duplicate = j.contains("duplicate") && j["duplicate"].is_boolean() && j["duplicate"].get<bool>();
  return c;
}

// No agent listens: the CLI is the journal's writer for one commit.
Result<Delivered> write_journal(const SiteRecord& record, const Config& config, const std::string& login,
                                const std::string& socket_error) {
  const auto& path = config.journal.path;
  auto agent_runs = [&] {
    return fail(ErrorCode::busy, config.journal.control_socket.string(),
                "the agent runs (it holds " + path.string() + ".lock) but its control socket is unreachable (" +
                    socket_error + "); is it an agent from before site records, or is the socket path changed?");
  };
  auto running = Journal::writer_running(path);
  if (running && *running) return agent_runs();
  auto signer = Signer::load(config.signing.key_file, config.signing.tpm_tcti);
  if (!signer)
    return fail(ErrorCode::io, signer.error().where,
                signer.error().message + " (no agent is running, so the entry is signed here: run this as the "
                                         "agent's user, for example runuser -u mrv-agent -- mrv-agent record ...)");
  auto journal = Journal::open_for_writing(journal_options_of(config), std::move(*signer));
  if (!journal) {
    if (journal.error().code == ErrorCode::busy) return agent_runs();
    return tl::unexpected(journal.error());
  }
  SiteRecord r = record;
  r.login = login;
  auto reading = site_record_reading(r);
  if (!reading) return tl::unexpected(reading.error());
  AcceptedReading accepted{std::move(*reading), SystemClock().now(), RecordType::site_record};
  auto out = journal->append(std::span<const AcceptedReading>(&accepted, 1));
  if (!out) return tl::unexpected(out.error());
  (void)journal->checkpoint("stop");  // as an agent does when it stops; the next start makes one anyway
  return Delivered{out->site_records.at(0), false};
}

}  // namespace

Result<Delivered> deliver_entry(const SiteRecord& record, const Config& config, const std::string& login) {
  const auto& socket = config.journal.control_socket;
  std::string line = entry_request_line(record);
  Attempt attempt = ask_agent(socket, line);
  if (attempt.outcome == Attempt::lost) attempt = ask_agent(socket, line);  // the same id: stored once
  // An agent holds the journal but does not listen yet (it is starting): wait for it a little.
  for (auto until = std::chrono::steady_clock::now() + kAgentStartWait;
       attempt.outcome == Attempt::no_agent && std::chrono::steady_clock::now() < until;) {
    auto running = Journal::writer_running(config.journal.path);
    if (!running || !*running) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    attempt = ask_agent(socket, line);
  }
  switch (attempt.outcome) {
    case Attempt::answered: {
      auto c = read_answer(attempt.answer);
      if (!c) return tl::unexpected(c.error());
      return Delivered{*c, true};
    }
    case Attempt::no_agent: return write_journal(record, config, login, attempt.why);
    case Attempt::lost:
      return fail(ErrorCode::io, socket.string(),
                  "the agent took the entry but its answer was lost (" + attempt.why +
                      "); it may be stored: retry with --id " + record.id + ", which stores it once");
    case Attempt::unreachable:
      return fail(ErrorCode::io, socket.string(),
                  "cannot reach the agent: " + attempt.why +
                      (attempt.why == std::strerror(EACCES)
                           ? " (enter records as a member of the agent's group, docs/operations.md)"
                           : ""));
  }
  return fail(ErrorCode::io, socket.string(), "unreachable");
}

}  // namespace mrv::agent
