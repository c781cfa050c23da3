#include "mrv/agent/state_file.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mrv/core/clock.hpp"

namespace mrv::agent {

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
                         {"bad_inputs", m.bad_inputs}});
  j["modbus"] = nlohmann::json::array();
  for (const auto& g : modbus)
    j["modbus"].push_back({{"name", g.name}, {"state", g.state}, {"last_error", g.last_error},
                           {"polls", g.polls}, {"readings", g.readings}, {"gaps", g.gaps},
                           {"requests", g.requests}, {"retries", g.retries}});
  if (upload)
    j["upload"] = {{"url", upload->url}, {"cursor", upload->cursor}, {"uploaded_records", upload->uploaded_records},
                   {"batches", upload->batches}, {"checkpoints", upload->checkpoints}, {"retries", upload->retries},
                   {"bytes_sent", upload->bytes_sent}, {"last_receipt_ms", upload->last_receipt_ms},
                   {"last_error", upload->last_error}, {"stopped", upload->stopped}};
  auto path = state_file_path(journal_path);
  auto tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) return;  // best effort: status then shows an older state, with its age
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
}

std::optional<std::string> read_state_file(const std::filesystem::path& journal_path) {
  std::ifstream in(state_file_path(journal_path));
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace mrv::agent
