#pragma once
// What an MQTT message means: which subscription's topic template it matches, which
// points its topic levels name, and the readings its payload carries (a bare number,
// JSON with JSON Pointers, or SenML). Pure functions, no I/O: the MQTT client hands
// (topic, payload) in and gets readings or the reason the message is bad.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "mrv/core/config.hpp"
#include "mrv/core/reading.hpp"

namespace mrv::collector {

// Why a message was quarantined; each is counted per subscription.
enum class BadInput {
  oversized,      // payload above the subscription's limit
  binary,         // not UTF-8 text
  invalid_json,   // JSON or SenML that does not parse
  missing_field,  // the value (or a configured timestamp) is not there
  not_numeric,    // a value that is not decimal text
  not_finite,     // NaN, Infinity, or beyond a double's range
  wrong_unit,     // the payload names another unit than the point's
  bad_timestamp,  // a timestamp that is not a time
  unmapped,       // topic or SenML name maps to no configured point
  internal,       // the agent failed on it (a bug): kept rather than lost or retried forever
};
std::string_view to_string(BadInput reason);

using MessageMapping = MqttSubscriptionConfig;

// The MQTT subscription filter of a topic template: {name} levels become +.
std::string mqtt_filter(std::string_view topic_template);
// Whether an MQTT topic matches a filter (+ one level, # the rest; $-topics only by name).
bool topic_matches(std::string_view filter, std::string_view topic);
// The {name} captures of `topic` under `topic_template`; nullopt when it does not match.
using Captures = std::vector<std::pair<std::string, std::string>>;
std::optional<Captures> match_topic(std::string_view topic_template, std::string_view topic);
// `point_template` with every {name} replaced; nullopt when a name is not captured.
std::optional<std::string> expand_point(std::string_view point_template, const Captures& captures);

// A reading as a message carries it, before the agent knows the point's unit.
struct DecodedReading {
  std::string point_id;
  std::string value;  // exact decimal text
  std::string unit;   // as the payload names it; empty when it names none
  std::optional<int64_t> ts_ms;  // none: the agent's clock stamps it
  Quality quality = Quality::good;
  std::string reason;
};

struct DecodeError {
  BadInput reason;
  std::string detail;  // for the log and the quarantine row: what and where in the payload
};

// Every reading of one message; any bad part makes the whole message bad (a message is
// stored whole or quarantined whole, never half).
[[nodiscard]] tl::expected<std::vector<DecodedReading>, DecodeError> decode_message(
    const MessageMapping& mapping, const Captures& captures, std::string_view payload,
    int64_t now_ms);

}  // namespace mrv::collector
