#pragma once
// The reading model: what a collector hands to the journal, and the record the journal
// makes of it (signed, chained, numbered). See docs/record-format.md.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mrv {

enum class Quality { good, uncertain, bad, substitute };
enum class ClockSync { synchronised, unsynchronised };
// Who stamped ts_ms: the meter/peer, our clock, or a person (a site record, "operator").
enum class TimeSource { device, agent, site_operator };
// site_record: what a person entered at the site (core/site_record.hpp).
enum class RecordType { reading, chain_segment, site_record };

std::string_view to_string(Quality q);
std::string_view to_string(ClockSync c);
std::string_view to_string(TimeSource t);
std::string_view to_string(RecordType t);
std::optional<Quality> parse_quality(std::string_view s);
std::optional<TimeSource> parse_time_source(std::string_view s);
std::optional<RecordType> parse_record_type(std::string_view s);

// One value read from one point, as a collector saw it.
struct Reading {
  std::string point_id;
  std::string value;   // exact decimal text as read ("1234.567"); empty when there is none
  std::string unit;
  int64_t ts_ms = 0;   // UTC milliseconds of the reading
  TimeSource time_source = TimeSource::agent;
  Quality quality = Quality::good;
  std::string reason;  // why quality is not good (empty when good)
  std::string source;  // "sim:demo/m1.energy_kwh", "mqtt:site/m1/energy", ...
};

// The agent's clock at the moment it accepted a reading.
struct ClockSample {
  int64_t utc_ms = 0;
  int64_t mono_ms = 0;  // CLOCK_BOOTTIME: never jumps, counts suspend, restarts at boot
  ClockSync sync = ClockSync::unsynchronised;
};

// Everything the canonical bytes of a record hold, in the order they are encoded.
struct RecordFields {
  RecordType type = RecordType::reading;
  std::string site_id;
  uint64_t seq = 0;
  std::string prev_hash_hex;  // SHA-256 of the previous record's canonical bytes
  Reading reading;
  ClockSample received;       // when the agent accepted it
  std::string boot_id;
  std::string config_hash_hex;
  std::string key_id_hex;
  std::string algorithm;      // "ed25519" or "ecdsa-p256-sha256"
};

// True when text is a finite decimal number as the record format allows:
// -?digits[.digits][(e|E)[+-]digits], at most 64 characters.
bool is_decimal_text(std::string_view text);

}  // namespace mrv
