#include "mrv/core/config.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "config_reader.hpp"
#include "mrv/core/time_zone.hpp"

#include "mrv/core/crypto.hpp"
#include "mrv/core/reading.hpp"

namespace mrv {
namespace {

void read_points(ConfigReader& r, const toml::table& root, Config& c) {
  const toml::node* n = root.get("points");
  if (!n) {
    r.error(&root, "points", "at least one [[points]] entry is required");
    return;
  }
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    r.error(n, "points", "must be an array of tables ([[points]])");
    return;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "points[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"id", "unit", "kind", "meter_serial", "accuracy_class",
                          "calibration_valid_until", "description", "interval_ms", "rollover_at"});
    PointConfig p;
    p.id = r.string(t, path, "id", true);
    if (!p.id.empty() && !is_valid_id(p.id))
      r.error(t.get("id"), path + ".id", "'" + p.id + "' may hold only A-Z a-z 0-9 . _ : / -");
    if (!p.id.empty() && !seen.insert(p.id).second)
      r.error(t.get("id"), path + ".id", "duplicate point id '" + p.id + "'");
    p.unit = r.string(t, path, "unit", true);
    p.kind = r.choice(t, path, "kind", {"cumulative", "gauge"}, "gauge") == "cumulative"
                 ? PointKind::cumulative
                 : PointKind::gauge;
    p.meter_serial = r.string(t, path, "meter_serial", false);
    p.accuracy_class = r.string(t, path, "accuracy_class", false);
    if (const toml::node* d = t.get("calibration_valid_until")) {
      if (auto date = d->value<toml::date>()) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", date->year, date->month, date->day);
        p.calibration_valid_until = buf;
      } else {
        r.error(d, path + ".calibration_valid_until", "must be a date (YYYY-MM-DD)");
      }
    }
    p.interval_ms = r.integer(t, path, "interval_ms", 0, 0, 366LL * 86'400'000);
    if (const toml::node* n = t.get("rollover_at")) {
      auto v = n->value<double>();
      if (!v || *v <= 0) r.error(n, path + ".rollover_at", "must be a positive number (the register's maximum)");
      else if (p.kind != PointKind::cumulative) r.error(n, path + ".rollover_at", "only a cumulative point rolls over");
      else p.rollover_at = *v;
    }
    c.points.push_back(std::move(p));
  }
}

void read_upload(ConfigReader& r, const std::filesystem::path& file, const toml::table& t,
                 UploadConfig& u) {
  const std::string path = "upload";
  r.only_keys(t, path, {"url", "ca_file", "client_cert_file", "client_key_file", "token_file",
                        "batch_max_records", "batch_max_bytes", "batch_max_age_ms", "timeout_ms",
                        "backoff_min_ms", "backoff_max_ms", "gzip_level"});
  u.url = r.string(t, path, "url", true);
  if (!u.url.empty() && !u.url.starts_with("https://"))
    r.error(t.get("url"), "upload.url", "must be an https:// URL (the registry API is HTTPS only)");
  auto file_of = [&](std::string_view key) { return resolve(file, r.string(t, path, key, false)); };
  u.ca_file = file_of("ca_file");
  u.client_cert_file = file_of("client_cert_file");
  u.client_key_file = file_of("client_key_file");
  u.token_file = file_of("token_file");
  if (u.client_cert_file.empty() != u.client_key_file.empty())
    r.error(&t, "upload.client_key_file", "client_cert_file and client_key_file go together");
  if (u.client_cert_file.empty() && u.token_file.empty())
    r.error(&t, "upload", "needs a credential: client_cert_file + client_key_file, or token_file");
  u.batch_max_records = static_cast<int>(r.integer(t, path, "batch_max_records", 5000, 1, 100'000));
  u.batch_max_bytes = static_cast<size_t>(r.integer(t, path, "batch_max_bytes", 4 << 20, 1024, 64 << 20));
  u.batch_max_age_ms = static_cast<int>(r.integer(t, path, "batch_max_age_ms", 5000, 0, 86'400'000));
  u.timeout_ms = static_cast<int>(r.integer(t, path, "timeout_ms", 30'000, 100, 3'600'000));
  u.backoff_min_ms = static_cast<int>(r.integer(t, path, "backoff_min_ms", 1000, 1, 3'600'000));
  u.backoff_max_ms = static_cast<int>(r.integer(t, path, "backoff_max_ms", 300'000, 1, 86'400'000));
  if (u.backoff_max_ms < u.backoff_min_ms)
    r.error(t.get("backoff_max_ms"), "upload.backoff_max_ms", "must not be below backoff_min_ms");
  u.gzip_level = static_cast<int>(r.integer(t, path, "gzip_level", 6, 0, 9));
}

// [http]: listen = "host:port" (IPv6 as "[::1]:9102"), limits and /healthz thresholds.
void read_http(ConfigReader& r, const toml::table& t, HttpConfig& h) {
  const std::string path = "http";
  r.only_keys(t, path, {"enabled", "listen", "max_connections", "max_request_bytes", "idle_timeout_ms",
                        "source_stale_s", "upload_lag_max_s", "require_clock_sync", "sparkline_step_s"});
  auto flag = [&](std::string_view key, bool fallback) {
    const toml::node* n = t.get(key);
    if (!n) return fallback;
    if (auto b = n->value<bool>()) return *b;
    r.error(n, path + "." + std::string(key), "must be true or false");
    return fallback;
  };
  h.enabled = flag("enabled", true);
  h.require_clock_sync = flag("require_clock_sync", true);
  if (const toml::node* n = t.get("listen"); n && !n->is_string()) {
    r.error(n, "http.listen", "must be a string");
  } else if (n) {
    std::string listen = *n->value<std::string>();
    std::string host, port;
    if (listen.starts_with("[")) {  // [v6 address]:port
      auto close = listen.find("]:");
      if (close != std::string::npos) {
        host = listen.substr(1, close - 1);
        port = listen.substr(close + 2);
      }
    } else if (auto colon = listen.rfind(':'); colon != std::string::npos) {
      host = listen.substr(0, colon);
      port = listen.substr(colon + 1);
    }
    unsigned char addr[sizeof(in6_addr)];
    bool ip = ::inet_pton(AF_INET, host.c_str(), addr) == 1 ||
              (listen.starts_with("[") && ::inet_pton(AF_INET6, host.c_str(), addr) == 1);
    int port_number = -1;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), port_number);
    if (!ip || ec != std::errc() || end != port.data() + port.size() || port_number < 0 || port_number > 65535)
      r.error(n, "http.listen", "must be IP:port (\"127.0.0.1:9102\", \"[::1]:9102\"; port 0: any free one)");
    else {
      h.listen_host = host;
      h.listen_port = static_cast<uint16_t>(port_number);
    }
  }
  h.max_connections = static_cast<int>(r.integer(t, path, "max_connections", 16, 1, 1024));
  h.max_request_bytes = static_cast<int>(r.integer(t, path, "max_request_bytes", 8192, 1024, 1 << 20));
  h.idle_timeout_ms = static_cast<int>(r.integer(t, path, "idle_timeout_ms", 10'000, 100, 600'000));
  h.source_stale_s = static_cast<int>(r.integer(t, path, "source_stale_s", 300, 1, 30 * 86'400));
  h.upload_lag_max_s = static_cast<int>(r.integer(t, path, "upload_lag_max_s", 3600, 1, 365 * 86'400));
  h.sparkline_step_s = static_cast<int>(r.integer(t, path, "sparkline_step_s", 60, 0, 86'400));
}

void read_mqtt_sources(ConfigReader& r, const toml::table& sources, Config& c);
void read_modbus(ConfigReader& r, const toml::table& sources, Config& c);

void read_sources(ConfigReader& r, const toml::table& root, Config& c) {
  const toml::table* sources = r.table(root, "", "sources", false);
  if (!sources) return;
  r.only_keys(*sources, "sources", {"simulated", "mqtt", "modbus"});
  read_mqtt_sources(r, *sources, c);
  read_modbus(r, *sources, c);
  const toml::node* n = sources->get("simulated");
  if (!n) return;
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    r.error(n, "sources.simulated", "must be an array of tables ([[sources.simulated]])");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "sources.simulated[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"name", "interval_ms", "points"});
    SimulatedSourceConfig s;
    s.name = r.string(t, path, "name", true);
    s.interval_ms = static_cast<int>(r.integer(t, path, "interval_ms", 1000, 1, 86'400'000));
    const toml::node* pts = t.get("points");
    if (!pts || !pts->is_array()) {
      r.error(pts ? pts : &t, path + ".points", "must be an array of point ids");
    } else {
      const toml::array& a = *pts->as_array();
      for (size_t k = 0; k < a.size(); ++k) {
        auto id = a.get(k)->value<std::string>();
        std::string ipath = path + ".points[" + std::to_string(k) + "]";
        if (!id) r.error(a.get(k), ipath, "must be a string");
        else if (!c.find_point(*id)) r.error(a.get(k), ipath, "no [[points]] entry with id '" + *id + "'");
        else s.points.push_back(*id);
      }
    }
    c.simulated_sources.push_back(std::move(s));
  }
}

// Topic template levels: {name} captures whole levels, + and # as MQTT, # only last.
std::string topic_template_error(const std::string& topic, const std::string& point,
                                 PayloadFormat format) {
  if (topic.empty()) return "must not be empty";
  std::set<std::string> names;
  size_t start = 0;
  for (;;) {
    size_t slash = topic.find('/', start);
    std::string level = topic.substr(start, slash == std::string::npos ? slash : slash - start);
    bool last = slash == std::string::npos;
    if (level.size() > 2 && level.front() == '{' && level.back() == '}') {
      if (!names.insert(level.substr(1, level.size() - 2)).second) return "names " + level + " twice";
    } else if (level.find_first_of("+#{}") != std::string::npos && level != "+" &&
               !(level == "#" && last)) {
      return "level '" + level + "': + and {name} take a whole level, # only the last";
    }
    if (last) break;
    start = slash + 1;
  }
  if (format == PayloadFormat::senml) names.insert("n");
  for (size_t open = point.find('{'); open != std::string::npos; open = point.find('{', open + 1)) {
    size_t close = point.find('}', open);
    if (close == std::string::npos) return "point '" + point + "' has an unclosed {";
    std::string name = point.substr(open + 1, close - open - 1);
    if (!names.count(name)) return "point '" + point + "' uses {" + name + "}, which the topic does not capture";
  }
  return {};
}

void read_mqtt_sources(ConfigReader& r, const toml::table& sources, Config& c) {
  const toml::node* n = sources.get("mqtt");
  if (!n) return;
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    r.error(n, "sources.mqtt", "must be an array of tables ([[sources.mqtt]])");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "sources.mqtt[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"name", "url", "client_id", "mqtt_version", "keepalive_s", "session_expiry_s",
                          "username", "password_file", "password_env", "ca_file", "cert_file",
                          "key_file", "reconnect_min_ms", "reconnect_max_ms", "subscriptions"});
    MqttSourceConfig m;
    m.name = r.string(t, path, "name", true);
    m.url = r.string(t, path, "url", true);
    if (!m.url.empty() && m.url.rfind("tcp://", 0) != 0 && m.url.rfind("ssl://", 0) != 0)
      r.error(t.get("url"), path + ".url", "must start with tcp:// or ssl://");
    m.client_id = r.string(t, path, "client_id", false, "mrv-agent-" + c.site_id + "-" + m.name);
    m.mqtt_version = static_cast<int>(r.integer(t, path, "mqtt_version", 4, 4, 5));
    m.keepalive_s = static_cast<int>(r.integer(t, path, "keepalive_s", 30, 5, 3600));
    m.session_expiry_s =
        static_cast<int>(r.integer(t, path, "session_expiry_s", 7 * 24 * 3600, 60, INT32_MAX));
    m.username = r.string(t, path, "username", false);
    m.password_env = r.string(t, path, "password_env", false);
    m.reconnect_min_ms = static_cast<int>(r.integer(t, path, "reconnect_min_ms", 500, 10, 3'600'000));
    m.reconnect_max_ms = static_cast<int>(r.integer(t, path, "reconnect_max_ms", 60'000, 10, 3'600'000));
    // Secrets and certificates come from files that must exist now, not at 3 a.m.
    for (auto [key, field] : {std::pair{"password_file", &m.password_file}, {"ca_file", &m.ca_file},
                              {"cert_file", &m.cert_file}, {"key_file", &m.key_file}}) {
      std::string value = r.string(t, path, key, false);
      if (value.empty()) continue;
      *field = resolve(c.file, value);
      if (r.check_files && !std::ifstream(*field))
        r.error(t.get(key), path + "." + key, "cannot read " + field->string());
    }
    if (!m.cert_file.empty() != !m.key_file.empty())
      r.error(&t, path, "cert_file and key_file go together");
    const toml::node* subs = t.get("subscriptions");
    const toml::array* sarr = subs ? subs->as_array() : nullptr;
    if (!sarr || !sarr->is_array_of_tables() || sarr->empty()) {
      r.error(subs ? subs : &t, path + ".subscriptions",
              "at least one [[sources.mqtt.subscriptions]] entry is required");
    } else {
      for (size_t k = 0; k < sarr->size(); ++k) {
        const toml::table& st = *sarr->get(k)->as_table();
        std::string spath = path + ".subscriptions[" + std::to_string(k) + "]";
        r.only_keys(st, spath, {"topic", "point", "qos", "format", "value", "timestamp", "unit",
                                "status", "timestamp_format", "max_payload_bytes"});
        MqttSubscriptionConfig s;
        s.topic = r.string(st, spath, "topic", true);
        s.point = r.string(st, spath, "point", true);
        s.qos = static_cast<int>(r.integer(st, spath, "qos", 1, 0, 2));
        std::string format = r.choice(st, spath, "format", {"number", "json", "senml"}, "number");
        s.format = format == "json" ? PayloadFormat::json
                   : format == "senml" ? PayloadFormat::senml : PayloadFormat::number;
        for (auto [key, field] : {std::pair{"value", &s.json.value}, {"timestamp", &s.json.timestamp},
                                  {"unit", &s.json.unit}, {"status", &s.json.status}}) {
          *field = r.string(st, spath, key, false, *field);
          if (!field->empty() && field->front() != '/')
            r.error(st.get(key), spath + "." + key, "must be a JSON Pointer (starting with /)");
        }
        std::string ts = r.choice(st, spath, "timestamp_format",
                                  {"auto", "epoch_s", "epoch_ms", "rfc3339"}, "auto");
        s.timestamp_format = ts == "epoch_s" ? TimestampFormat::epoch_s
                             : ts == "epoch_ms" ? TimestampFormat::epoch_ms
                             : ts == "rfc3339" ? TimestampFormat::rfc3339
                                               : TimestampFormat::auto_detect;
        s.max_payload_bytes = static_cast<size_t>(
            r.integer(st, spath, "max_payload_bytes", 64 * 1024, 16, 16 * 1024 * 1024));
        if (!s.topic.empty() && !s.point.empty())
          if (auto e = topic_template_error(s.topic, s.point, s.format); !e.empty())
            r.error(st.get("topic"), spath + ".topic", e);
        m.subscriptions.push_back(std::move(s));
      }
    }
    c.mqtt_sources.push_back(std::move(m));
  }
}

// A string key that names one of `choices`, as its enum value.
template <typename T>
T pick(ConfigReader& r, const toml::table& t, const std::string& path, std::string_view key,
       std::initializer_list<std::pair<std::string_view, T>> choices, std::string_view fallback) {
  std::string value = r.string(t, path, key, false, std::string(fallback));
  std::string all;
  for (auto& [name, v] : choices) {
    if (name == value) return v;
    all += (all.empty() ? "" : ", ") + std::string(name);
  }
  r.error(t.get(key), ConfigReader::join(path, std::string(key)), "must be one of: " + all);
  return choices.begin()->second;
}

uint16_t register_span(ModbusValueType type, uint16_t string_registers) {
  switch (type) {
    case ModbusValueType::u32: case ModbusValueType::i32: case ModbusValueType::f32: return 2;
    case ModbusValueType::u64: case ModbusValueType::i64: case ModbusValueType::f64: return 4;
    case ModbusValueType::string: return string_registers;
    default: return 1;
  }
}

void read_modbus_registers(ConfigReader& r, const toml::table& dt, const std::string& dpath,
                           Config& c, ModbusDeviceConfig& d) {
  const toml::node* n = dt.get("registers");
  const toml::array* arr = n ? n->as_array() : nullptr;
  if (!arr || !arr->is_array_of_tables() || arr->empty()) {
    r.error(n ? n : &dt, dpath + ".registers", "at least one [[...registers]] entry is required");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = dpath + ".registers[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"point", "table", "address", "type", "order", "scale", "offset",
                          "string_registers"});
    ModbusRegisterConfig g;
    g.point = r.string(t, path, "point", true);
    if (!g.point.empty() && !c.find_point(g.point))
      r.error(t.get("point"), path + ".point", "no [[points]] entry with id '" + g.point + "'");
    g.table = pick<ModbusTable>(r, t, path, "table",
                                {{"holding", ModbusTable::holding_registers},
                                 {"input", ModbusTable::input_registers},
                                 {"coil", ModbusTable::coils},
                                 {"discrete", ModbusTable::discrete_inputs}}, "holding");
    g.address = static_cast<uint16_t>(r.integer(t, path, "address", 0, 0, 65535));
    if (!t.get("address")) r.error(&t, path + ".address", "missing required key");
    bool bits = g.table == ModbusTable::coils || g.table == ModbusTable::discrete_inputs;
    g.type = pick<ModbusValueType>(r, t, path, "type",
                                   {{"u16", ModbusValueType::u16}, {"i16", ModbusValueType::i16},
                                    {"u32", ModbusValueType::u32}, {"i32", ModbusValueType::i32},
                                    {"u64", ModbusValueType::u64}, {"i64", ModbusValueType::i64},
                                    {"f32", ModbusValueType::f32}, {"f64", ModbusValueType::f64},
                                    {"bool", ModbusValueType::boolean},
                                    {"string", ModbusValueType::string}},
                                   bits ? "bool" : "u16");
    if (bits != (g.type == ModbusValueType::boolean))
      r.error(t.get("type") ? t.get("type") : &t, path + ".type",
              bits ? "coils and discrete inputs are bool" : "bool is for coils and discrete inputs");
    g.order = pick<ModbusWordOrder>(r, t, path, "order",
                                    {{"ABCD", ModbusWordOrder::abcd}, {"CDAB", ModbusWordOrder::cdab},
                                     {"BADC", ModbusWordOrder::badc}, {"DCBA", ModbusWordOrder::dcba}},
                                    "ABCD");
    for (auto [key, field] : {std::pair{"scale", &g.scale}, {"offset", &g.offset}}) {
      if (const toml::node* v = t.get(key)) {
        if (auto d = v->value<double>()) *field = *d;
        else r.error(v, path + "." + key, "must be a number");
      }
    }
    g.string_registers = static_cast<uint16_t>(r.integer(t, path, "string_registers", 0, 0, 125));
    if (g.type == ModbusValueType::string && g.string_registers == 0)
      r.error(&t, path + ".string_registers", "a string needs its length in registers");
    if (g.address + register_span(g.type, g.string_registers) > 65536)
      r.error(t.get("address"), path + ".address", "the value runs past register 65535");
    d.registers.push_back(std::move(g));
  }
}

void read_modbus(ConfigReader& r, const toml::table& sources, Config& c) {
  const toml::node* n = sources.get("modbus");
  if (!n) return;
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    r.error(n, "sources.modbus", "must be an array of tables ([[sources.modbus]])");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "sources.modbus[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"name", "transport", "host", "port", "serial_device", "baud",
                          "data_bits", "stop_bits", "parity", "timeout_ms", "retries", "max_gap",
                          "concurrency", "devices"});
    ModbusGatewayConfig g;
    g.name = r.string(t, path, "name", true);
    g.transport = pick<ModbusTransport>(r, t, path, "transport",
                                        {{"tcp", ModbusTransport::tcp},
                                         {"rtu-over-tcp", ModbusTransport::rtu_over_tcp},
                                         {"rtu", ModbusTransport::rtu_serial}}, "tcp");
    if (g.transport == ModbusTransport::rtu_serial) {
      g.serial_device = r.string(t, path, "serial_device", true);
      g.baud = static_cast<int>(r.integer(t, path, "baud", 9600, 300, 4'000'000));
      g.data_bits = static_cast<int>(r.integer(t, path, "data_bits", 8, 7, 8));
      g.stop_bits = static_cast<int>(r.integer(t, path, "stop_bits", 1, 1, 2));
      g.parity = r.choice(t, path, "parity", {"N", "E", "O"}, "N")[0];
    } else {
      g.host = r.string(t, path, "host", true);
      g.port = static_cast<uint16_t>(r.integer(t, path, "port", 502, 1, 65535));
    }
    g.timeout_ms = static_cast<int>(r.integer(t, path, "timeout_ms", 1000, 10, 60'000));
    g.retries = static_cast<int>(r.integer(t, path, "retries", 1, 0, 10));
    g.max_gap = static_cast<uint16_t>(r.integer(t, path, "max_gap", 8, 0, 124));
    g.concurrency = static_cast<int>(r.integer(t, path, "concurrency", 1, 1, 16));
    const toml::node* dn = t.get("devices");
    const toml::array* darr = dn ? dn->as_array() : nullptr;
    if (!darr || !darr->is_array_of_tables() || darr->empty()) {
      r.error(dn ? dn : &t, path + ".devices", "at least one [[sources.modbus.devices]] entry is required");
    } else {
      for (size_t k = 0; k < darr->size(); ++k) {
        const toml::table& dt = *darr->get(k)->as_table();
        std::string dpath = path + ".devices[" + std::to_string(k) + "]";
        r.only_keys(dt, dpath, {"name", "unit", "interval_ms", "registers"});
        ModbusDeviceConfig d;
        d.name = r.string(dt, dpath, "name", true);
        d.unit = static_cast<uint8_t>(r.integer(dt, dpath, "unit", 1, 0, 247));
        d.interval_ms = static_cast<int>(r.integer(dt, dpath, "interval_ms", 1000, 1, 86'400'000));
        read_modbus_registers(r, dt, dpath, c, d);
        g.devices.push_back(std::move(d));
      }
    }
    c.modbus_gateways.push_back(std::move(g));
  }
}

}  // namespace

const PointConfig* Config::find_point(std::string_view id) const {
  for (const auto& p : points)
    if (p.id == id) return &p;
  return nullptr;
}

std::optional<double> accuracy_percent(std::string_view text) {
  if (text == "A") return 2.0;  // MID / EN 50470-3 active energy classes
  if (text == "B") return 1.0;
  if (text == "C") return 0.5;
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || v <= 0 || v > 100) return std::nullopt;
  std::string_view rest(end, static_cast<size_t>(text.data() + text.size() - end));
  if (!rest.empty() && rest != "S" && rest != "s" && rest != "%") return std::nullopt;
  return v;
}

int64_t Config::expected_interval_ms(std::string_view point_id) const {
  if (const PointConfig* p = find_point(point_id); p && p->interval_ms > 0) return p->interval_ms;
  for (const auto& s : simulated_sources)
    for (const auto& id : s.points)
      if (id == point_id) return s.interval_ms;
  for (const auto& g : modbus_gateways)
    for (const auto& d : g.devices)
      for (const auto& reg : d.registers)
        if (reg.point == point_id) return d.interval_ms;
  return 0;
}

tl::expected<Config, ConfigErrors> parse_config(std::string text, const std::filesystem::path& file,
                                                bool check_files) {
  ConfigReader r(file.string());
  r.check_files = check_files;
  toml::table root;
  // toml++ recurses per level of nesting and holds every value: bound both first.
  if (auto shallow = check_toml_limits(text, file.string()); !shallow)
    return tl::unexpected(ConfigErrors{shallow.error()});
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& e) {
    return tl::unexpected(ConfigErrors{Error{
        ErrorCode::config,
        file.string() + ":" + std::to_string(e.source().begin.line) + ":" +
            std::to_string(e.source().begin.column),
        std::string(e.description())}});
  }
  Config c;
  c.file = file;
  c.hash_hex = to_hex(sha256(text));
  c.text = std::move(text);
  r.only_keys(root, "", {"site", "journal", "signing", "upload", "http", "monitoring", "points", "sources"});

  if (const toml::table* site = r.table(root, "", "site", true)) {
    r.only_keys(*site, "site", {"id", "name", "timezone", "calibration_warning_days"});
    c.site_id = r.string(*site, "site", "id", true);
    if (!c.site_id.empty() && !is_valid_id(c.site_id))
      r.error(site->get("id"), "site.id", "may hold only A-Z a-z 0-9 . _ : / -");
    c.monitoring.time_zone = r.string(*site, "site", "timezone", false, "UTC");
    if (auto zone = TimeZone::locate(c.monitoring.time_zone); !zone)
      r.error(site->get("timezone"), "site.timezone", zone.error().message);
    c.calibration_warning_days = static_cast<int>(r.integer(*site, "site", "calibration_warning_days", 30, 0, 365));
  }
  if (const toml::table* j = r.table(root, "", "journal", true)) {
    r.only_keys(*j, "journal", {"path", "commit_interval_ms", "max_batch", "queue_capacity",
                                "synchronous", "quota_mb", "on_chain_break",
                                "quarantine_max_rows", "control_socket"});
    c.journal.path = resolve(file, r.string(*j, "journal", "path", true));
    std::string socket = r.string(*j, "journal", "control_socket", false);
    c.journal.control_socket = socket.empty() ? std::filesystem::path(c.journal.path.string() + ".sock")
                                              : resolve(file, socket);
    if (c.journal.control_socket.string().size() > kMaxControlSocketPath)
      r.error(j->get(socket.empty() ? "path" : "control_socket"), "journal.control_socket",
              "'" + c.journal.control_socket.string() + "' is longer than a Unix socket path may be (" +
                  std::to_string(kMaxControlSocketPath) + " bytes)" +
                  (socket.empty() ? ": the default is path + \".sock\"; set control_socket to a shorter path" : ""));
    c.journal.commit_interval_ms =
        static_cast<int>(r.integer(*j, "journal", "commit_interval_ms", 50, 1, 10'000));
    c.journal.max_batch = static_cast<int>(r.integer(*j, "journal", "max_batch", 4096, 1, 1'000'000));
    c.journal.queue_capacity =
        static_cast<int>(r.integer(*j, "journal", "queue_capacity", 65536, 1, 10'000'000));
    c.journal.synchronous =
        r.choice(*j, "journal", "synchronous", {"full", "normal"}, "full") == "normal"
            ? Synchronous::normal
            : Synchronous::full;
    c.journal.quota_bytes =
        static_cast<uint64_t>(r.integer(*j, "journal", "quota_mb", 1024, 1, 1'000'000)) << 20;
    c.journal.quarantine_max_rows = static_cast<int>(
        r.integer(*j, "journal", "quarantine_max_rows", 10'000, 0, 10'000'000));
    c.journal.on_chain_break =
        r.choice(*j, "journal", "on_chain_break", {"refuse", "new-segment"}, "new-segment") ==
                "refuse"
            ? ChainBreakPolicy::refuse
            : ChainBreakPolicy::new_segment;
  }
  if (const toml::table* s = r.table(root, "", "signing", true)) {
    r.only_keys(*s, "signing",
                {"key_file", "mode", "checkpoint_interval_ms", "checkpoint_every_records", "tpm_tcti",
                 "tpm_counter_index"});
    c.signing.key_file = resolve(file, r.string(*s, "signing", "key_file", true));
    c.signing.checkpoint_only = r.choice(*s, "signing", "mode", {"record", "checkpoint"}, "record") == "checkpoint";
    c.signing.tpm_tcti = r.string(*s, "signing", "tpm_tcti", false);
    // An NV index of the owner's range (TCG handle registry: 0x01000000 to 0x013fffff).
    c.signing.tpm_counter_index = static_cast<uint32_t>(
        r.integer(*s, "signing", "tpm_counter_index", 0x01000d00, 0x01000000, 0x013fffff));
    // A TPM signs tens of times a second, not thousands: a TPM key signs checkpoints only.
    if (r.check_files && !c.signing.key_file.empty() && is_tpm_key_file(c.signing.key_file) && !c.signing.checkpoint_only)
      r.error(s->get("mode") ? s->get("mode") : s, "signing.mode",
              "the key is held in a TPM (a TSS2 private key), which signs checkpoints only: "
              "set mode = \"checkpoint\"");
    // Checkpoint-only records are proven by checkpoints alone: one at least every second.
    c.signing.checkpoint_interval_ms = static_cast<int>(
        r.integer(*s, "signing", "checkpoint_interval_ms", c.signing.checkpoint_only ? 1000 : 60'000,
                  10, c.signing.checkpoint_only ? 1000 : 86'400'000));
    c.signing.checkpoint_every_records = static_cast<uint64_t>(
        r.integer(*s, "signing", "checkpoint_every_records", 0, 0, 100'000'000));
  }
  if (const toml::table* u = r.table(root, "", "upload", false)) read_upload(r, file, *u, c.upload);
  if (const toml::table* h = r.table(root, "", "http", false)) read_http(r, *h, c.http);
  read_points(r, root, c);
  read_sources(r, root, c);
  read_monitoring(r, root, c);
  if (!r.errors_.empty()) return tl::unexpected(std::move(r.errors_));
  return c;
}

tl::expected<Config, ConfigErrors> load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    return tl::unexpected(
        ConfigErrors{Error{ErrorCode::io, file.string(), "cannot read config file"}});
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), file);
}

}  // namespace mrv
