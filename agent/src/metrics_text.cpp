#include "metrics_text.hpp"

#include <charconv>
#include <cmath>

namespace mrv::agent {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

// HELP text escapes only backslash and newline.
std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

double seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

}  // namespace

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Fixed between 1e-4 and 1e15 (timestamps, bytes), scientific beyond; the shortest
  // digits that read back the same either way.
  double a = std::fabs(value);
  auto format = a == 0 || (a >= 1e-4 && a < 1e15) ? std::chars_format::fixed : std::chars_format::scientific;
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, format);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusText::labels(Labels labels) {
  if (labels.size() == 0) return;
  out_ += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_ += name;
    out_ += "=\"";
    out_ += escape_label_value(value);
    out_ += '"';
  }
  out_ += '}';
}

template <typename Value>
void PrometheusText::single(std::string_view name, std::string_view type, std::string_view help, Value value) {
  family(name, type, help);
  sample(name, {}, value);
}
template void PrometheusText::single(std::string_view, std::string_view, std::string_view, double);
template void PrometheusText::single(std::string_view, std::string_view, std::string_view, uint64_t);

void PrometheusText::sample(std::string_view name, Labels l, double value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += format_value(value);
  out_ += '\n';
}

void PrometheusText::sample(std::string_view name, Labels l, uint64_t value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::histogram(std::string_view name, std::string_view help, const LatencyHistogram& h) {
  family(name, "histogram", help);
  std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.kBounds.size(); ++i) {
    cumulative += h.buckets[i];
    std::string le = format_value(h.kBounds[i]);
    sample(bucket, {{"le", le}}, cumulative);
  }
  sample(bucket, {{"le", "+Inf"}}, h.count);
  sample(std::string(name) + "_sum", {}, h.sum_s);
  sample(std::string(name) + "_count", {}, h.count);
}

std::string render_metrics(const AgentStatus& s) {
  PrometheusText m;
  const uint64_t one = 1;

  m.family("mrv_build_info", "gauge", "The agent's version (always 1).");
  m.sample("mrv_build_info", {{"version", s.version}}, one);
  m.family("mrv_agent_info", "gauge", "The site and the config new records name (always 1).");
  m.sample("mrv_agent_info", {{"site", s.site_id}, {"config_hash", s.writer.config_hash_hex}}, one);
  m.single("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
           s.process.start_time_s);
  m.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes (/proc/self/statm).",
           s.process.resident_bytes);
  m.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes (/proc/self/statm).",
           s.process.virtual_bytes);
  m.single("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
           s.process.cpu_seconds);
  m.single("mrv_clock_synchronised", "gauge", "1 when the kernel clock is NTP-synchronised (adjtimex), else 0.",
           uint64_t{s.clock_synchronised});

  // Readings, per point and source, from what the journal committed since start.
  m.family("mrv_readings_total", "counter", "Readings with a value committed to the journal, by point and source.");
  for (const auto& c : s.points.counts)
    m.sample("mrv_readings_total", {{"point", c.point}, {"source", c.source}}, c.readings);
  m.family("mrv_gap_records_total", "counter",
           "Gap records (no value: a failed or skipped poll) committed to the journal, by point and source.");
  for (const auto& c : s.points.counts)
    m.sample("mrv_gap_records_total", {{"point", c.point}, {"source", c.source}}, c.gaps);
  m.family("mrv_point_last_reading_timestamp_seconds", "gauge",
           "Reading time of the last committed value of a point, since the Unix epoch, in seconds.");
  for (const auto& p : s.points.points)
    if (p.ts_ms != 0) m.sample("mrv_point_last_reading_timestamp_seconds", {{"point", p.id}}, seconds(p.ts_ms));

  // Sources.
  m.family("mrv_source_up", "gauge", "1 when a source is connected (a simulated one always is), else 0.");
  for (const auto& src : s.sources)
    m.sample("mrv_source_up", {{"source", src.label}},
             uint64_t{src.state == "connected" || src.state == "running"});
  m.family("mrv_source_last_reading_timestamp_seconds", "gauge",
           "When the agent committed the last value from a source, since the Unix epoch, in seconds.");
  for (const auto& src : s.sources)
    if (src.last_reading_ms != 0)
      m.sample("mrv_source_last_reading_timestamp_seconds", {{"source", src.label}}, seconds(src.last_reading_ms));
  m.family("mrv_mqtt_messages_total", "counter", "MQTT messages received, by source.");
  for (const auto& q : s.mqtt) m.sample("mrv_mqtt_messages_total", {{"source", "mqtt:" + q.name}}, q.messages);
  m.family("mrv_mqtt_connects_total", "counter", "Successful connections to the broker, by source.");
  for (const auto& q : s.mqtt) m.sample("mrv_mqtt_connects_total", {{"source", "mqtt:" + q.name}}, q.connects);
  m.family("mrv_mqtt_subscriptions_granted", "gauge",
           "Topic filters the broker granted on the current connection, by source (below "
           "mrv_mqtt_subscriptions: a filter refused or not yet answered).");
  for (const auto& q : s.mqtt) m.sample("mrv_mqtt_subscriptions_granted", {{"source", "mqtt:" + q.name}}, q.subscribed);
  m.family("mrv_mqtt_subscriptions", "gauge", "Topic filters configured, by source.");
  for (const auto& q : s.mqtt) m.sample("mrv_mqtt_subscriptions", {{"source", "mqtt:" + q.name}}, q.subscriptions);
  m.family("mrv_bad_inputs_total", "counter",
           "Messages quarantined as bad input, by source, subscription (topic template) and reason.");
  for (const auto& q : s.mqtt)
    for (const auto& [key, count] : q.bad_inputs) {
      auto slash = key.rfind('/');  // "topic template/reason": reasons hold no slash
      std::string subscription = slash == std::string::npos ? "" : key.substr(0, slash);
      std::string reason = slash == std::string::npos ? key : key.substr(slash + 1);
      m.sample("mrv_bad_inputs_total", {{"source", "mqtt:" + q.name}, {"subscription", subscription}, {"reason", reason}},
               count);
    }
  m.family("mrv_modbus_polls_total", "counter", "Modbus device polls, by gateway.");
  for (const auto& g : s.modbus) m.sample("mrv_modbus_polls_total", {{"source", "modbus:" + g.name}}, g.polls);
  m.family("mrv_modbus_requests_total", "counter", "Modbus requests sent, by gateway.");
  for (const auto& g : s.modbus) m.sample("mrv_modbus_requests_total", {{"source", "modbus:" + g.name}}, g.requests);
  m.family("mrv_modbus_retries_total", "counter", "Modbus requests sent again after a failure, by gateway.");
  for (const auto& g : s.modbus) m.sample("mrv_modbus_retries_total", {{"source", "modbus:" + g.name}}, g.retries);

  // Calibration of the points' meters (CalibrationWatch; docs/operations.md): absent until computed.
  if (s.calibration.known) {
    m.family("mrv_calibration_valid_until_seconds", "gauge",
             "First instant a point's meter calibration no longer covers (a failed one: its time), since the Unix "
             "epoch, in seconds; absent when unknown.");
    for (const auto& c : s.calibration.points)
      if (c.state != CalibrationState::unknown)
        m.sample("mrv_calibration_valid_until_seconds", {{"point", c.point}, {"meter", c.meter_serial}},
                 seconds(c.valid_until_ms));
    m.family("mrv_calibration_state", "gauge",
             "1 for the current calibration state of a point's meter (ok, due, expired, failed, unknown), 0 for the "
             "others; due: it ends within [site] calibration_warning_days.");
    for (const auto& c : s.calibration.points)
      for (CalibrationState state : kCalibrationStates)
        m.sample("mrv_calibration_state", {{"point", c.point}, {"meter", c.meter_serial}, {"state", to_string(state)}},
                 uint64_t{state == c.state});
  }

  // The journal.
  const WriterStats& w = s.writer;
  m.single("mrv_journal_submitted_total", "counter", "Readings the journal writer accepted.", w.submitted);
  m.single("mrv_journal_stored_total", "counter", "Readings stored as signed records.", w.stored);
  m.single("mrv_journal_duplicates_total", "counter", "Readings skipped as already stored (a redelivery).",
           w.duplicates);
  m.single("mrv_journal_refused_total", "counter", "Readings refused: back-pressure (queue full, quota, storage error).",
           w.refused);
  m.single("mrv_journal_commit_failures_total", "counter", "Journal transactions that failed (retried).",
           w.commit_failures);
  m.single("mrv_journal_last_seq", "gauge", "Sequence number of the newest record.", w.last_seq);
  m.single("mrv_journal_held_readings", "gauge", "Readings accepted and not yet committed.", w.held);
  m.single("mrv_journal_accepting", "gauge", "1 while the journal accepts readings, 0 when full or failing.",
           uint64_t{w.accepting});
  if (s.journal.known) {
    m.single("mrv_journal_used_bytes", "gauge", "Bytes of the journal in use (what the quota counts).",
             s.journal.used_bytes);
    m.single("mrv_journal_file_bytes", "gauge", "Bytes of the journal's files on disk (database and WAL).",
             s.journal.file_bytes);
    m.single("mrv_journal_quota_bytes", "gauge", "The journal's quota in bytes.", s.journal.quota_bytes);
    m.single("mrv_journal_records", "gauge", "Records held in the journal (receipted ones may be pruned).",
             s.journal.record_count);
  }
  m.histogram("mrv_journal_commit_duration_seconds", "Time of one journal transaction: sign, chain, insert, commit.",
              w.commit_seconds);
  m.histogram("mrv_journal_sign_duration_seconds", "Time to sign one record.", w.sign_seconds);

  // The upload.
  if (s.upload) {
    const auto& u = s.upload->status;
    m.single("mrv_upload_lag_records", "gauge", "Committed records the registry has not receipted.",
             s.upload->lag_records);
    m.single("mrv_upload_lag_seconds", "gauge", "How long the oldest record the registry has not receipted has waited.",
             s.upload->lag_s);
    m.single("mrv_upload_errors_total", "counter", "Upload requests that failed and are retried.", u.retries);
    m.single("mrv_upload_stopped", "gauge", "1 when the registry refused a request for good and a stream stopped.",
             uint64_t{!u.stopped.empty()});
    m.single("mrv_upload_records_total", "counter", "Records receipted by the registry.", u.uploaded_records);
    m.single("mrv_upload_batches_total", "counter", "Batches receipted by the registry.", u.batches);
    m.single("mrv_upload_checkpoints_total", "counter", "Checkpoints the registry accepted.", u.checkpoints);
    m.single("mrv_upload_cosignatures_total", "counter", "Registry cosignatures of checkpoints kept.", u.cosignatures);
    m.single("mrv_upload_sent_bytes_total", "counter", "HTTP bytes sent to the registry.", u.bytes_sent);
    if (u.last_receipt_ms != 0) {
      m.single("mrv_upload_last_receipt_timestamp_seconds", "gauge", "When the registry last receipted a batch.",
               seconds(u.last_receipt_ms));
    }
  }
  return m.take();
}

}  // namespace mrv::agent
