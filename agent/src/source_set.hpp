#pragma once
// Every source of one config, started and stopped together: what a reload swaps. The
// config must outlive the set (sources keep references into it).
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
  // Starts every source; the first error (an MQTT client that cannot be created) is
  // returned, and the sources after it start anyway.
  [[nodiscard]] Result<void> start();
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
  const Config& config_;
  JournalWriter& writer_;
  std::vector<std::unique_ptr<collector::SimulatedSource>> simulated_;
  std::vector<std::unique_ptr<collector::MqttSource>> mqtt_;
  std::vector<std::unique_ptr<collector::ModbusGateway>> modbus_;
};

}  // namespace mrv::agent
