#include "source_set.hpp"

namespace mrv::agent {

SourceSet::SourceSet(boost::asio::io_context& io, const Config& config, JournalWriter& writer)
    : io_(io), config_(config), writer_(writer) {}

Result<void> SourceSet::start() {
  std::optional<Error> first_error;  // the others start anyway
  for (const auto& s : config_.simulated_sources) {
    std::vector<PointConfig> points;
    for (const auto& id : s.points) points.push_back(*config_.find_point(id));
    simulated_.push_back(std::make_unique<collector::SimulatedSource>(io_, s, std::move(points), writer_));
    simulated_.back()->start();
  }
  for (const auto& m : config_.mqtt_sources) {
    auto dir = config_.journal.path.parent_path() / "mqtt" / m.name;  // Paho's persistence
    mqtt_.push_back(std::make_unique<collector::MqttSource>(io_, m, config_, writer_, dir));
    if (auto r = mqtt_.back()->start(); !r && !first_error) first_error = r.error();
  }
  for (const auto& g : config_.modbus_gateways) {
    modbus_.push_back(std::make_unique<collector::ModbusGateway>(io_, g, config_, writer_));
    modbus_.back()->start();
  }
  if (first_error) return tl::unexpected(*first_error);
  return {};
}

void SourceSet::stop() {
  for (auto& s : simulated_) s->stop();
  for (auto& m : mqtt_) m->stop();
  for (auto& g : modbus_) g->stop();
}

std::vector<collector::MqttSourceStatus> SourceSet::mqtt_status() const {
  std::vector<collector::MqttSourceStatus> out;
  for (const auto& m : mqtt_) out.push_back(m->status());
  return out;
}

std::vector<collector::ModbusStatus> SourceSet::modbus_status() const {
  std::vector<collector::ModbusStatus> out;
  for (const auto& g : modbus_) out.push_back(g->status());
  return out;
}

bool SourceSet::mqtt_parked() const {
  for (const auto& m : mqtt_)
    if (m->parked()) return true;
  return false;
}

}  // namespace mrv::agent
