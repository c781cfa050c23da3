#include "reload_check.hpp"

namespace mrv::agent {

std::optional<std::string> needs_restart(const Config& a, const Config& b) {
  if (a.site_id != b.site_id) return "[site] id";
  const JournalConfig &ja = a.journal, &jb = b.journal;
  if (ja.path != jb.path) return "[journal] path";
  if (ja.control_socket != jb.control_socket) return "[journal] control_socket";
  if (ja.synchronous != jb.synchronous || ja.quota_bytes != jb.quota_bytes ||
      ja.on_chain_break != jb.on_chain_break || ja.quarantine_max_rows != jb.quarantine_max_rows ||
      ja.commit_interval_ms != jb.commit_interval_ms || ja.max_batch != jb.max_batch ||
      ja.queue_capacity != jb.queue_capacity)
    return "[journal] settings";
  const SigningConfig &sa = a.signing, &sb = b.signing;
  if (sa.key_file != sb.key_file || sa.checkpoint_only != sb.checkpoint_only ||
      sa.checkpoint_interval_ms != sb.checkpoint_interval_ms ||
      sa.checkpoint_every_records != sb.checkpoint_every_records)
    return "[signing]";
  return std::nullopt;
}

bool same_mqtt_connection(const MqttSourceConfig& a, const MqttSourceConfig& b) {
  return a.name == b.name && a.url == b.url && a.client_id == b.client_id && a.mqtt_version == b.mqtt_version &&
         a.keepalive_s == b.keepalive_s && a.session_expiry_s == b.session_expiry_s && a.username == b.username &&
         a.password_file == b.password_file && a.password_env == b.password_env && a.ca_file == b.ca_file &&
         a.cert_file == b.cert_file && a.key_file == b.key_file;
}

namespace {

bool same_subscription(const MqttSubscriptionConfig& a, const MqttSubscriptionConfig& b) {
  return a.topic == b.topic && a.point == b.point && a.qos == b.qos && a.format == b.format &&
         a.json.value == b.json.value && a.json.timestamp == b.json.timestamp && a.json.unit == b.json.unit &&
         a.json.status == b.json.status && a.timestamp_format == b.timestamp_format &&
         a.max_payload_bytes == b.max_payload_bytes;
}

bool same_subscriptions(const MqttSourceConfig& a, const MqttSourceConfig& b) {
  if (a.subscriptions.size() != b.subscriptions.size()) return false;
  for (size_t i = 0; i < a.subscriptions.size(); ++i)
    if (!same_subscription(a.subscriptions[i], b.subscriptions[i])) return false;
  return true;
}

}  // namespace

std::optional<std::string> needs_two_reloads(const Config& running, const Config& fresh) {
  for (const MqttSourceConfig& before : running.mqtt_sources)
    for (const MqttSourceConfig& after : fresh.mqtt_sources)
      if (before.url == after.url && before.client_id == after.client_id && !same_mqtt_connection(before, after) &&
          !same_subscriptions(before, after))
        return "[sources.mqtt] " + after.name;
  return std::nullopt;
}

}  // namespace mrv::agent
