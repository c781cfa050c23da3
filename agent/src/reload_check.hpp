#pragma once
// What a reload (SIGHUP) may change in place: sources, points, subscriptions, registers,
// the upload and the monitoring sections. The site, the journal and the signing key are
// the identity and storage of the record chain: changing them needs a restart, so a
// reload refuses them and keeps running as it was.
#include <optional>
#include <string>

#include "mrv/core/config.hpp"

namespace mrv::agent {

// nullopt when `fresh` can replace `running` without a restart; else what differs.
std::optional<std::string> needs_restart(const Config& running, const Config& fresh);

// True when an MQTT source can carry its client, connection and broker session over a
// reload: all but its subscriptions and reconnect backoff stay. Its next message is then
// mapped by the new subscriptions, at the same point in the chain as the switch of the
// config records name.
bool same_mqtt_connection(const MqttSourceConfig& running, const MqttSourceConfig& fresh);

// nullopt, or the MQTT source whose connection changes while it resumes the same broker
// session (same URL and client id) with other subscriptions. Its old connection closes
// with messages the broker may not have seen acknowledged; they come back to the new one,
// and would be stored a second time if they mapped to other points. Changing the
// connection and the subscriptions in two reloads keeps every message stored once.
std::optional<std::string> needs_two_reloads(const Config& running, const Config& fresh);

}  // namespace mrv::agent
