// MQTT messages (docs/mqtt.md) as a broker delivers them: the topic matched against a
// subscription's template, then the payload as a bare number, JSON read through JSON
// Pointers, or SenML. Input: one byte choosing the subscription and timestamp format,
// the topic up to the first '\n', then the payload. A decoded reading is always a point
// and exact decimal text: anything else is quarantined, never stored.
#include <array>

#include "fuzz_support.hpp"
#include "mrv/collector/mqtt_payload.hpp"

namespace {

std::array<mrv::MqttSubscriptionConfig, 3> subscriptions() {
  std::array<mrv::MqttSubscriptionConfig, 3> s;
  s[0].topic = "site/{meter}/energy";
  s[0].point = "{meter}.energy_kwh";
  s[0].format = mrv::PayloadFormat::number;
  s[1].topic = "site/{meter}/json/#";
  s[1].point = "{meter}.power_kw";
  s[1].format = mrv::PayloadFormat::json;
  s[1].json = {"/data/0/value", "/ts", "/unit", "/status"};
  s[2].topic = "senml/{device}";
  s[2].point = "{device}.{n}";
  s[2].format = mrv::PayloadFormat::senml;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto subs = subscriptions();
  if (size == 0) return 0;
  auto& sub = subs[data[0] % subs.size()];
  sub.timestamp_format = static_cast<mrv::TimestampFormat>((data[0] >> 2) % 4);
  std::string_view rest = mrv::fuzz::as_text(data + 1, size - 1);
  auto newline = rest.find('\n');
  std::string_view topic = rest.substr(0, newline);
  std::string_view payload = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);

  (void)mrv::collector::topic_matches(mrv::collector::mqtt_filter(sub.topic), topic);
  auto captures = mrv::collector::match_topic(sub.topic, topic);
  if (!captures) captures.emplace();  // the payload decoder runs on its own too
  auto decoded = mrv::collector::decode_message(sub, *captures, payload, 1'767'225'600'000);
  if (!decoded) return 0;
  for (const auto& reading : *decoded) {
    MRV_FUZZ_CHECK(!reading.point_id.empty());
    MRV_FUZZ_CHECK(mrv::is_decimal_text(reading.value));
  }
  return 0;
}
