#pragma once
// One Modbus gateway (TCP, RTU framed over TCP, or RTU on a serial line) and the devices
// behind it, polled on the agent's io_context. Each device has its own schedule; requests
// go one at a time over the gateway's connection or line, each with a timeout and
// limited retries. A poll that
// fails (timeout, exception response, bad frame, no connection) or is skipped (the
// previous one still running, or the device backed off after failures) is journaled as
// a gap: one bad-quality record per point, with the reason. A cumulative counter that
// goes backwards is recorded as it is, with a reason that says so.
#include <cstdint>
#include <memory>
#include <string>

#include "mrv/core/asio.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"

namespace mrv::collector {

struct ModbusStatus {
  std::string name;
  std::string state = "starting";  // connecting, connected, disconnected, stopped
  std::string last_error;
  uint64_t polls = 0, readings = 0, gaps = 0, requests = 0, retries = 0;
};

class ModbusGateway {
 public:
  ModbusGateway(boost::asio::io_context& io, ModbusGatewayConfig config, const Config& site,
                JournalWriter& writer);
  ~ModbusGateway();
  ModbusGateway(const ModbusGateway&) = delete;
  ModbusGateway& operator=(const ModbusGateway&) = delete;

  void start();
  void stop();
  ModbusStatus status() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mrv::collector
