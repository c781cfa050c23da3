#pragma once
// The agent's configuration: one TOML file parsed once into these typed structs and
// validated whole. Relative paths are resolved against the config file's folder.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "mrv/core/error.hpp"

namespace mrv {

enum class PointKind { cumulative, gauge };
enum class Synchronous { full, normal };          // SQLite PRAGMA synchronous in WAL mode
enum class ChainBreakPolicy { refuse, new_segment };

struct PointConfig {
  std::string id;
  std::string unit;
  PointKind kind = PointKind::gauge;
  std::string meter_serial;
  std::string accuracy_class;
  std::string calibration_valid_until;  // YYYY-MM-DD, empty when not given
  int64_t interval_ms = 0;   // expected time between readings; 0: the polling source's interval
  std::optional<double> rollover_at;  // cumulative: the register's maximum before it wraps to 0
};

// A meter's accuracy class as its maximum permissible error in percent: "0.5S" -> 0.5,
// "1" -> 1, the MID classes "A" 2, "B" 1, "C" 0.5; nullopt when the text is none of these.
std::optional<double> accuracy_percent(std::string_view accuracy_class);

struct JournalConfig {
  std::filesystem::path path;
  int commit_interval_ms = 50;        // longest a reading waits before its commit
  int max_batch = 4096;               // readings per transaction at most
  int queue_capacity = 65536;         // readings waiting for a commit; beyond: back-pressure
  Synchronous synchronous = Synchronous::full;
  uint64_t quota_bytes = 1024ull << 20;
  ChainBreakPolicy on_chain_break = ChainBreakPolicy::new_segment;
  int quarantine_max_rows = 10'000;   // bad messages kept, newest first
  // The Unix socket `run` listens on for people's site records (mrv-agent record):
  // default the journal path + ".sock"; at most kMaxControlSocketPath bytes (sun_path).
  std::filesystem::path control_socket;
};
inline constexpr size_t kMaxControlSocketPath = 107;  // sockaddr_un's sun_path, less its NUL

struct SigningConfig {
  std::filesystem::path key_file;
  // "record": every record signed; "checkpoint": records only hash-chained and covered by
  // a signed checkpoint (docs/verification.md §5).
  bool checkpoint_only = false;
  int checkpoint_interval_ms = 60'000;    // a checkpoint at most this long after a record
  uint64_t checkpoint_every_records = 0;  // and after this many records (0: no count limit)
  // How OpenSSL's tpm2 provider reaches the TPM when key_file is a TSS2 private key
  // ("device:/dev/tpmrm0", "tabrmd", "swtpm:host=127.0.0.1,port=2321"); empty: the
  // provider's default (TPM2OPENSSL_TCTI, else the TSS's default).
  std::string tpm_tcti;
  // The TPM's NV counter a start is bound to, with a TPM key (docs/verification.md §8.4);
  // defined by the agent at its first start.
  uint32_t tpm_counter_index = 0x01000d00;
};

// Uploading to a registry (docs/registry-api.md). No [upload] section: no upload.
struct UploadConfig {
  std::string url;  // https://host:port of the registry
  std::filesystem::path ca_file;  // trust anchors for the registry's certificate (empty: system)
  std::filesystem::path client_cert_file, client_key_file;  // mutual TLS ...
  std::filesystem::path token_file;                         // ... or a bearer token
  int batch_max_records = 5000;      // a batch is sent when it has this many records,
  size_t batch_max_bytes = 4 << 20;  // or this many bytes of record lines (before gzip),
  int batch_max_age_ms = 5000;       // or its oldest record has waited this long
  int timeout_ms = 30'000;           // per request: connect, send and receipt
  int backoff_min_ms = 1000, backoff_max_ms = 300'000;  // after a failure, doubling, jittered
  int gzip_level = 6;
};

// The agent's own HTTP listener (docs/operations-http.md): /healthz, /metrics and the
// status page. Plain HTTP, no authentication: it is read-only and shows no secrets, but
// keep it on loopback (the default) or behind a firewall or a TLS reverse proxy.
// On by default: a config without [http] listens on 127.0.0.1:9102.
struct HttpConfig {
  bool enabled = true;
  std::string listen_host = "127.0.0.1";  // an IP address (no names: nothing to resolve)
  uint16_t listen_port = 9102;            // 0: any free port (logged at start)
  int max_connections = 16;        // open connections at most; more are closed at once
  int max_request_bytes = 8192;    // request line and headers; a GET has no body
  int idle_timeout_ms = 10'000;    // a connection silent this long is closed
  // /healthz: a source is stale when none of its readings was committed for this long
  // (or for three intervals of its slowest point, when that is longer).
  int source_stale_s = 300;
  // /healthz: the oldest record the registry has not receipted may wait this long.
  int upload_lag_max_s = 3600;
  // /healthz: the kernel clock must be NTP-synchronised (adjtimex). Set false on a
  // gateway without NTP (readings then say so in their clock field anyway).
  bool require_clock_sync = true;
  // Status page sparklines: the latest value per step of this many seconds, 60 steps.
  int sparkline_step_s = 60;
};

// A built-in source of plausible meter values, for demos and tests.
struct SimulatedSourceConfig {
  std::string name;
  int interval_ms = 1000;
  std::vector<std::string> points;  // point ids, each configured under [[points]]
};

enum class PayloadFormat { number, json, senml };
enum class TimestampFormat { auto_detect, epoch_s, epoch_ms, rfc3339 };

// JSON Pointers (RFC 6901) into a JSON payload. Empty: the payload has no such field.
struct JsonPointers {
  std::string value = "/value";
  std::string timestamp;
  std::string unit;
  std::string status;
};

// One MQTT subscription: a topic template and how its messages become readings.
struct MqttSubscriptionConfig {
  std::string topic;   // MQTT levels, + and #, and {name} levels that capture
  std::string point;   // point id template: {name} from the topic, {n} the SenML name
  int qos = 1;
  PayloadFormat format = PayloadFormat::number;
  JsonPointers json;
  TimestampFormat timestamp_format = TimestampFormat::auto_detect;
  size_t max_payload_bytes = 64 * 1024;
};

// One broker connection.
struct MqttSourceConfig {
  std::string name;
  std::string url;            // tcp://host:1883 or ssl://host:8883
  std::string client_id;      // stable: the broker keeps the session under it
  int mqtt_version = 4;       // 4 = MQTT 3.1.1, 5 = MQTT 5
  int keepalive_s = 30;
  int session_expiry_s = 7 * 24 * 3600;  // MQTT 5: how long the broker keeps the session
  std::string username;
  std::filesystem::path password_file;   // the password: from a file ...
  std::string password_env;              // ... or from this environment variable
  std::filesystem::path ca_file, cert_file, key_file;  // TLS (ssl:// URLs)
  int reconnect_min_ms = 500, reconnect_max_ms = 60'000;
  std::vector<MqttSubscriptionConfig> subscriptions;
};

// Modbus register tables, numbered as the function codes that read them.
enum class ModbusTable { coils = 1, discrete_inputs = 2, holding_registers = 3, input_registers = 4 };
enum class ModbusValueType { boolean, u16, i16, u32, i32, u64, i64, f32, f64, string };
// Byte order of multi-register values; see collector/modbus_registers.hpp.
enum class ModbusWordOrder { abcd, cdab, badc, dcba };
enum class ModbusTransport { tcp, rtu_over_tcp, rtu_serial };

struct ModbusRegisterConfig {
  std::string point;              // a configured point id
  ModbusTable table = ModbusTable::holding_registers;
  uint16_t address = 0;           // zero-based protocol address
  ModbusValueType type = ModbusValueType::u16;
  ModbusWordOrder order = ModbusWordOrder::abcd;
  double scale = 1.0, offset = 0.0;
  uint16_t string_registers = 0;  // type "string": its length in registers
};

struct ModbusDeviceConfig {
  std::string name;
  uint8_t unit = 1;
  int interval_ms = 1000;
  std::vector<ModbusRegisterConfig> registers;
};

// One Modbus TCP gateway, serial server (RTU over TCP) or serial line.
struct ModbusGatewayConfig {
  std::string name;
  ModbusTransport transport = ModbusTransport::tcp;
  std::string host;               // tcp, rtu_over_tcp
  uint16_t port = 502;
  std::string serial_device;      // rtu_serial: /dev/ttyUSB0
  int baud = 9600, data_bits = 8, stop_bits = 1;
  char parity = 'N';              // N, E or O
  int timeout_ms = 1000;
  int retries = 1;
  uint16_t max_gap = 8;           // unread registers bridged when merging requests
  int concurrency = 1;            // requests in flight (TCP only; a serial line has one)
  std::vector<ModbusDeviceConfig> devices;
};

// The methodology a monitoring report follows (issue 7; docs/report-format.md): its
// parameters, each from points by an aggregation or a fixed value with its source, the
// formulas over them, and the named periods.
// documents: the sum of the quantities of recorded documents (invoices) over the period,
// pro rata for a document that covers only part of it (monitoring option B).
enum class Aggregation { counter, integral, mean, min, max, fixed, documents };
enum class GapRule { zero, substitute };  // integrated parameters across a gap

struct MonitoringParameter {
  std::string id;           // the symbol formulas use: EG_p, EF_grid, ...
  std::string description;
  std::string unit;         // checked and converted (core/units)
  Aggregation aggregation = Aggregation::counter;
  std::vector<std::string> points;  // summed; empty for fixed
  double value = 0;         // fixed
  std::string source;       // fixed: where the value is published
  // JCM: A public data, B invoices (recorded documents), C the project's own measurement;
  // "ex-ante": a value fixed before the crediting period (manufacturer's data, defaults).
  std::string monitoring_option;
  GapRule gap_rule = GapRule::zero;
  double substitute = 0;    // gap_rule substitute: this value of the point meanwhile (its unit)
  std::string document_type;  // documents: only documents of this type ("" any)
  // For the JCM Monitoring Report Sheet (docs/jcm-submission.md): the monitoring point's
  // number as the PDD's monitoring structure numbers it ("(1)"), and what its Table 1 or
  // Table 2 row says besides the value ("" where the config says nothing: the workbook
  // derives a text from the points and their meters).
  std::string monitoring_point, measurement_methods, monitoring_frequency, comments;
};

struct MonitoringFormula {
  std::string id;           // RE_p, PE_p, ER_p: a later formula may use an earlier one
  std::string expression;   // muparser syntax over parameter and earlier formula ids
  std::string unit;
  std::string description;  // for people: "Reference emissions"
};

// A declared comparison: `value` (a parameter or formula) against `reference` (another,
// e.g. the utility's invoices), within a tolerance. A failed check changes no number; it
// is a finding (verify exits 4).
struct MonitoringCrossCheck {
  std::string id, description;
  std::string value, reference;  // parameter or formula ids, of the same quantity
  double tolerance_percent = 0;  // of the reference
};

struct MonitoringPeriod {
  std::string name;
  int64_t start_ms = 0, end_ms = 0;  // UTC, [start, end)
};

// The crediting period: no period may reach outside it, and no energy outside it counts.
struct CreditingPeriod {
  int64_t start_ms = 0, end_ms = 0;  // UTC, [start, end)
};

struct MonitoringConfig {
  bool enabled = false;
  std::string methodology, version;
  // The project as registered (the JCM workbook's header): its reference number and title.
  std::string reference_number, title;
  // Where the files that site records name by SHA-256 (calibration certificates,
  // invoices, photos) are kept, for the evidence pack ("" none configured).
  std::filesystem::path documents_dir;
  std::string time_zone = "UTC";     // [site] timezone (IANA): a bare date is local midnight; reports show local dates
  std::optional<CreditingPeriod> crediting_period;
  bool allow_interpolation = false;  // a boundary value between two readings may be interpolated
  int64_t boundary_window_ms = 7 * 86'400'000LL;  // how far from a boundary a register reading is looked for
  std::vector<MonitoringParameter> parameters;
  std::vector<MonitoringFormula> formulas;  // in order of evaluation
  std::string emission_reductions;          // the formula id that is credited (rounded down)
  std::vector<MonitoringCrossCheck> cross_checks;
  std::vector<MonitoringPeriod> periods;  // sorted by start; they do not overlap

  // The period that ends exactly where `p` starts (nullptr: none, `p`'s start is not a
  // shared boundary), and the one that starts where it ends.
  const MonitoringPeriod* period_ending_at(int64_t ms) const;
  const MonitoringPeriod* period_starting_at(int64_t ms) const;
  // What the JCM workbook needs and the config does not say (the reference number, the
  // title, a measured parameter's monitoring point), as key paths; empty: ready.
  std::vector<std::string> workbook_missing() const;
};

struct Config {
  std::filesystem::path file;
  std::string text;       // the file's bytes, as hashed
  std::string hash_hex;   // SHA-256 of text: the configuration every record names
  std::string site_id;
  // [site] calibration_warning_days: a point's calibration is "due" (a warning in the log,
  // /metrics, /healthz, the status page and `status`) from this many days before it ends;
  // 0: no early warning, only once it has ended. 0..365, default 30.
  int calibration_warning_days = 30;
  JournalConfig journal;
  SigningConfig signing;
  UploadConfig upload;
  HttpConfig http;
  MonitoringConfig monitoring;
  std::vector<PointConfig> points;
  std::vector<SimulatedSourceConfig> simulated_sources;
  std::vector<MqttSourceConfig> mqtt_sources;
  std::vector<ModbusGatewayConfig> modbus_gateways;

  const PointConfig* find_point(std::string_view id) const;
  // How often a point is expected to be read: its own interval_ms, else the interval of
  // the simulated source or Modbus device that polls it; 0 when neither says.
  int64_t expected_interval_ms(std::string_view point_id) const;
};

// Every error in the file, each naming file:line and the key path.
using ConfigErrors = std::vector<Error>;
[[nodiscard]] tl::expected<Config, ConfigErrors> load_config(const std::filesystem::path& file);
// check_files = false: the files it names (MQTT certificates and secrets) need not exist
// here, for a config kept as the record of what a site ran (a report, a bundle).
[[nodiscard]] tl::expected<Config, ConfigErrors> parse_config(std::string text,
                                                              const std::filesystem::path& file,
                                                              bool check_files = true);

}  // namespace mrv
