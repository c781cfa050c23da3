#include "mrv/core/reading.hpp"

namespace mrv {

std::string_view to_string(Quality q) {
  switch (q) {
    case Quality::good: return "good";
    case Quality::uncertain: return "uncertain";
    case Quality::bad: return "bad";
    case Quality::substitute: return "substitute";
  }
  return "bad";
}

std::string_view to_string(ClockSync c) {
  return c == ClockSync::synchronised ? "synchronised" : "unsynchronised";
}

std::string_view to_string(TimeSource t) {
  switch (t) {
    case TimeSource::device: return "device";
    case TimeSource::agent: return "agent";
    case TimeSource::site_operator: return "operator";
  }
  return "agent";
}

std::string_view to_string(RecordType t) {
  switch (t) {
    case RecordType::reading: return "reading";
    case RecordType::chain_segment: return "chain-segment";
    case RecordType::site_record: return "site-record";
  }
  return "reading";
}

std::optional<Quality> parse_quality(std::string_view s) {
  for (Quality q : {Quality::good, Quality::uncertain, Quality::bad, Quality::substitute})
    if (to_string(q) == s) return q;
  return std::nullopt;
}

std::optional<TimeSource> parse_time_source(std::string_view s) {
  for (TimeSource t : {TimeSource::device, TimeSource::agent, TimeSource::site_operator})
    if (to_string(t) == s) return t;
  return std::nullopt;
}

std::optional<RecordType> parse_record_type(std::string_view s) {
  for (RecordType t : {RecordType::reading, RecordType::chain_segment, RecordType::site_record})
    if (to_string(t) == s) return t;
  return std::nullopt;
}

bool is_decimal_text(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (t[i] == '-') ++i;
  if (!digits()) return false;
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

}  // namespace mrv
