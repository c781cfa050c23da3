#pragma once
// The running agent's live state (sources and their connection state, bad-input
// counters, journal writer counters), written beside the journal every two seconds as
// JSON so `status`, a separate process, can show it. Rewritten atomically (a synced
// temporary file renamed over it): when that fails (a full disk) the previous file
// stays whole and only ages; whether the agent runs is the journal's writer lock.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "mrv/collector/modbus_source.hpp"
#include "mrv/collector/mqtt_source.hpp"
#include "mrv/core/journal_writer.hpp"
#include "mrv/uploader/uploader.hpp"

namespace mrv::agent {

std::filesystem::path state_file_path(const std::filesystem::path& journal_path);

// Best effort: a failure keeps the previous file and is logged once (and the recovery).
void write_state_file(const std::filesystem::path& journal_path, const WriterStats& writer,
                      const std::vector<collector::MqttSourceStatus>& mqtt,
                      const std::vector<collector::ModbusStatus>& modbus,
                      const std::optional<uploader::UploaderStatus>& upload);

// The state as JSON text, or nullopt when there is none (the agent never ran here).
std::optional<std::string> read_state_file(const std::filesystem::path& journal_path);

// The last seq the journal writer had committed when the state was written: a witness
// of the journal's head (docs/journal.md). nullopt when there is no readable state.
std::optional<uint64_t> state_file_last_seq(const std::filesystem::path& journal_path);

}  // namespace mrv::agent
