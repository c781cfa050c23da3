#pragma once
// Every source of the running config, and what a reload changes of them (apply). MQTT
// sources whose connection stays keep their client and broker session and switch their
// mapping at the point where records start naming the new config; every other source is
// stopped before that point and started anew after it. The configs must outlive the set
// (sources keep references into them). io thread only.
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "mrv/collector/modbus_source.hpp"
#include "mrv/collector/mqtt_source.hpp"
#include "mrv/collector/simulated_source.hpp"
#include "mrv/core/asio.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"

namespace mrv::agent {

class SourceSet {
 public:
  SourceSet(boost::asio::io_context& io, const Config& config, JournalWriter& writer);
  ~SourceSet();  // stop()s
  SourceSet(const SourceSet&) = delete;
  SourceSet& operator=(const SourceSet&) = delete;

  // Starts every source of the config that is not running; the first error (an MQTT
  // client that cannot be created) is returned, and the sources after it start anyway.
  [[nodiscard]] Result<void> start();
  // A reload to `next`:
  // 1. stops the sources that do not carry over (none of them handles anything after);
  // 2. holds the MQTT sources that do: each lets the message it handles commit, and keeps
  //    the next one waiting, unacknowledged;
  // 3. runs `switch_journal` (JournalWriter::reconfigure: what was submitted commits under
  //    the running config, later records name `next`);
  // 4. if it succeeded, the held sources map their next messages with `next`; else they
  //    go on as they were. Then start() starts the sources of whichever config runs.
  // Errors: switch_journal's, or a held source whose message did not commit in time.
  using SwitchJournal = std::function<Result<void>()>;
  [[nodiscard]] Result<void> apply(const Config& next, const SwitchJournal& switch_journal,
                                   std::chrono::milliseconds hold_timeout = std::chrono::seconds(5));
  // Stops every source. An MQTT source first lets the message it is handling commit and
  // be acknowledged, so the broker redelivers nothing that is stored.
  void stop();
  size_t size() const { return simulated_.size() + mqtt_.size() + modbus_.size(); }
  std::vector<collector::MqttSourceStatus> mqtt_status() const;
  std::vector<collector::ModbusStatus> modbus_status() const;
  // A message the journal refused stays unacknowledged (see run_daemon's exit).
  bool mqtt_parked() const;

 private:
  boost::asio::io_context& io_;
  const Config* config_;
  JournalWriter& writer_;
  std::vector<std::unique_ptr<collector::SimulatedSource>> simulated_;
  std::vector<std::unique_ptr<collector::MqttSource>> mqtt_;
  std::vector<std::unique_ptr<collector::ModbusGateway>> modbus_;
};

}  // namespace mrv::agent
