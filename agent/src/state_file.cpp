#include "mrv/agent/state_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"

namespace mrv::agent {
namespace {

// Writes `text` to a temporary file beside `path`, syncs it and renames it over `path`.
// On any failure (a full disk fails the write, or only the sync) the temporary file is
// removed and `path` keeps its previous content whole. Returns "" or what failed.
std::string replace_file(const std::filesystem::path& path, const std::string& text) {
  std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);  // the umask decides
  if (fd < 0) return tmp + ": " + std::strerror(errno);
  std::string error;
  for (size_t done = 0; done < text.size() && error.empty();) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) error = tmp + ": write: " + std::strerror(n < 0 ? errno : ENOSPC);
    else done += static_cast<size_t>(n);
  }
  if (error.empty() && ::fsync(fd) != 0) error = tmp + ": fsync: " + std::strerror(errno);
  if (::close(fd) != 0 && error.empty()) error = tmp + ": close: " + std::strerror(errno);
  if (error.empty() && std::rename(tmp.c_str(), path.c_str()) != 0)
    error = path.string() + ": rename: " + std::strerror(errno);
  if (!error.empty()) ::unlink(tmp.c_str());
  return error;
}

}  // namespace

std::filesystem::path state_file_path(const std::filesystem::path& journal_path) {
  return journal_path.string() + ".state.json";
}

void write_state_file(const std::filesystem::path& journal_path, const WriterStats& w,
                      const std::vector<collector::MqttSourceStatus>& mqtt,
                      const std::vector<collector::ModbusStatus>& modbus,
                      const std::optional<uploader::UploaderStatus>& upload) {
  nlohmann::json j = {
      {"updated_ms", utc_now_ms()},
      {"pid", ::getpid()},
      {"writer", {{"submitted", w.submitted}, {"stored", w.stored}, {"duplicates", w.duplicates},
                  {"refused", w.refused}, {"held", w.held}, {"last_seq", w.last_seq},
                  {"accepting", w.accepting}, {"last_error", w.last_error}}},
      {"mqtt", nlohmann::json::array()}};
  for (const auto& m : mqtt)
    j["mqtt"].push_back({{"name", m.name}, {"url", m.url}, {"state", m.state},
                         {"state_since_ms", m.state_since_ms}, {"last_error", m.last_error},
                         {"messages", m.messages}, {"readings", m.readings},
                         {"quarantined", m.quarantined}, {"connects", m.connects},
                         {"subscriptions", m.subscriptions}, {"subscribed", m.subscribed},
                         {"bad_inputs", m.bad_inputs}});
  j["modbus"] = nlohmann::json::array();
  for (const auto& g : modbus)
    j["modbus"].push_back({{"name", g.name}, {"state", g.state}, {"last_error", g.last_error},
                           {"polls", g.polls}, {"readings", g.readings}, {"gaps", g.gaps},
                           {"requests", g.requests}, {"retries", g.retries}});
  if (upload)
    j["upload"] = {{"url", upload->url}, {"cursor", upload->cursor}, {"uploaded_records", upload->uploaded_records},
                   {"batches", upload->batches}, {"checkpoints", upload->checkpoints},
                   {"cosignatures", upload->cosignatures}, {"retries", upload->retries},
                   {"bytes_sent", upload->bytes_sent}, {"last_receipt_ms", upload->last_receipt_ms},
                   {"last_error", upload->last_error}, {"stopped", upload->stopped}};
  std::string error = replace_file(state_file_path(journal_path), j.dump(2) + "\n");
  // Logged when writing starts to fail (a full disk) and when it works again, not every 2 s.
  static std::atomic<bool> failing{false};
  if (!error.empty() && !failing.exchange(true))
    log::warning("cannot rewrite the state file, status shows an older state until it can: " + error);
  else if (error.empty() && failing.exchange(false))
    log::notice("the state file is written again");
}

std::optional<std::string> read_state_file(const std::filesystem::path& journal_path) {
  std::ifstream in(state_file_path(journal_path));
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<uint64_t> state_file_last_seq(const std::filesystem::path& journal_path) {
  auto text = read_state_file(journal_path);
  if (!text) return std::nullopt;
  auto state = nlohmann::json::parse(*text, nullptr, false);
  if (!state.is_object() || !state["writer"].is_object() || !state["writer"]["last_seq"].is_number_unsigned())
    return std::nullopt;
  return state["writer"]["last_seq"].get<uint64_t>();
}

}  // namespace mrv::agent
