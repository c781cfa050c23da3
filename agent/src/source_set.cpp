#include "source_set.hpp"

#include <algorithm>
#include <utility>

#include "reload_check.hpp"

namespace mrv::agent {

SourceSet::SourceSet(boost::asio::io_context& io, const Config& config, JournalWriter& writer)
    : io_(io), config_(&config), writer_(writer) {}

SourceSet::~SourceSet() { stop(); }

Result<void> SourceSet::start() {
  const Config& config = *config_;
  std::optional<Error> first_error;  // the others start anyway
  if (simulated_.empty())
    for (const auto& s : config.simulated_sources) {
      std::vector<PointConfig> points;
      for (const auto& id : s.points) points.push_back(*config.find_point(id));
      simulated_.push_back(std::make_unique<collector::SimulatedSource>(io_, s, std::move(points), writer_));
      simulated_.back()->start();
    }
  for (const auto& m : config.mqtt_sources) {
    bool running = std::any_of(mqtt_.begin(), mqtt_.end(), [&](auto& s) { return s->config().name == m.name; });
    if (running) continue;  // carried over a reload
    auto dir = config.journal.path.parent_path() / "mqtt" / m.name;  // Paho's persistence
    mqtt_.push_back(std::make_unique<collector::MqttSource>(io_, m, config, writer_, dir));
    if (auto r = mqtt_.back()->start(); !r && !first_error) first_error = r.error();
  }
  if (modbus_.empty())
    for (const auto& g : config.modbus_gateways) {
      modbus_.push_back(std::make_unique<collector::ModbusGateway>(io_, g, config, writer_));
      modbus_.back()->start();
    }
  if (first_error) return tl::unexpected(*first_error);
  return {};
}

Result<void> SourceSet::apply(const Config& next, const SwitchJournal& switch_journal,
                              std::chrono::milliseconds hold_timeout) {
  // 1. What does not carry over stops now, before the switch: the simulated and Modbus
  // sources, and the MQTT sources that are gone or connect differently.
  struct Stopped {
    std::vector<std::unique_ptr<collector::SimulatedSource>> simulated;
    std::vector<std::unique_ptr<collector::MqttSource>> mqtt;
    std::vector<std::unique_ptr<collector::ModbusGateway>> modbus;
  };
  auto stopped = std::make_shared<Stopped>();
  std::vector<std::pair<collector::MqttSource*, const MqttSourceConfig*>> kept;
  std::vector<std::unique_ptr<collector::MqttSource>> staying;
  for (auto& source : mqtt_) {
    auto successor = std::find_if(next.mqtt_sources.begin(), next.mqtt_sources.end(),
                                  [&](const MqttSourceConfig& c) { return c.name == source->config().name; });
    if (successor != next.mqtt_sources.end() && same_mqtt_connection(source->config(), *successor)) {
      kept.emplace_back(source.get(), &*successor);
      staying.push_back(std::move(source));
    } else {
      source->stop();
      stopped->mqtt.push_back(std::move(source));
    }
  }
  mqtt_ = std::move(staying);
  for (auto& s : simulated_) s->stop();
  for (auto& g : modbus_) g->stop();
  stopped->simulated = std::exchange(simulated_, {});
  stopped->modbus = std::exchange(modbus_, {});
  boost::asio::post(io_, [stopped] {});  // destroyed after the handlers they queued (which refer to them)

  // 2. Hold the MQTT sources that carry over; Paho is not called until they are released.
  Result<void> switched;
  std::vector<collector::MqttSource::MappingHold> holds;
  for (auto& [source, successor] : kept) {
    holds.push_back(source->hold_mapping(hold_timeout));
    if (!holds.back().owns_lock()) {
      switched = fail(ErrorCode::busy, "sources.mqtt " + source->config().name,
                      "the message being handled was not committed within " + std::to_string(hold_timeout.count()) +
                          " ms");
      break;
    }
  }
  // 3. and 4.
  if (switched) switched = switch_journal();
  if (switched) {
    for (size_t i = 0; i < kept.size(); ++i) kept[i].first->remap(holds[i], *kept[i].second, next);
    config_ = &next;
  }
  holds.clear();
  return switched;
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
