#include "mrv/collector/mqtt_source.hpp"

#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <mqtt/async_client.h>

#include "mrv/collector/intake_log.hpp"
#include "mrv/collector/mqtt_payload.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"
#include "mrv/core/secret_file.hpp"

namespace mrv::collector {
namespace {
using namespace std::chrono_literals;

// Reads a secret from a file (its first line) or the environment; never logged.
Result<std::string> read_secret(const MqttSourceConfig& c) {
  if (!c.password_file.empty()) return read_secret_file(c.password_file);
  if (!c.password_env.empty()) {
    const char* v = std::getenv(c.password_env.c_str());
    if (!v) return fail(ErrorCode::config, "sources.mqtt " + c.name, "environment variable " +
                                                                         c.password_env + " is not set");
    return std::string(v);
  }
  return std::string();
}

}  // namespace

struct MqttSource::Impl : std::enable_shared_from_this<MqttSource::Impl>, mqtt::iaction_listener {
  using MappingLock = std::unique_lock<std::timed_mutex>;
  boost::asio::io_context& io;
  boost::asio::steady_timer reconnect_timer;
  MqttSourceConfig config;  // subscriptions change on remap(), under mapping_mutex
  const Config* site;       // the same
  JournalWriter& writer;
  std::filesystem::path persistence_dir;
  // Accepted messages, durable before Paho acknowledges them (Paho's thread; start() and
  // stop() when no callback runs).
  IntakeLog intake;
  uint64_t appends_since_release = 0;
  JournalWriter::Ticket last_produced = 0;
  std::unique_ptr<mqtt::async_client> client;
  mqtt::connect_options connect_options;
  std::string source_prefix;  // "mqtt:<name>:"

  std::atomic<bool> stopping{false}, is_parked{false};
  // Held by the message callback from mapping a message until it is durable, and by a
  // reload while it switches the mapping and the journal's config (hold_mapping).
  std::timed_mutex mapping_mutex;
  int attempt = 0;  // io thread only
  std::mt19937 rng{std::random_device{}()};

  mutable std::mutex status_mutex;
  MqttSourceStatus st;
  std::map<std::string, std::pair<uint64_t, int64_t>> log_limits;  // key -> (suppressed, last ms)

  Impl(boost::asio::io_context& io_, MqttSourceConfig c, const Config& s, JournalWriter& w,
       std::filesystem::path dir)
      : io(io_), reconnect_timer(io_), config(std::move(c)), site(&s), writer(w),
        persistence_dir(std::move(dir)),
        intake(persistence_dir / "intake", s.journal.synchronous == Synchronous::full),
        source_prefix("mqtt:" + config.name + ":") {
    st.name = config.name;
    st.url = config.url;
  }

  void set_state(const std::string& state, const std::string& error = {}) {
    std::lock_guard lock(status_mutex);
    if (st.state != state) st.state_since_ms = utc_now_ms();
    st.state = state;
    if (!error.empty()) st.last_error = error;
  }

  // ---- connection (io thread) ----------------------------------------------------

  void connect() {
    if (stopping) return;
    set_state("connecting");
    try {
      client->connect(connect_options, nullptr, *this);
    } catch (const mqtt::exception& e) {
      connect_failed(e.what());
    }
  }

  void schedule_reconnect() {
    if (stopping) return;
    // Capped exponential backoff with full jitter, so a fleet does not reconnect at once.
    int64_t cap = std::min<int64_t>(config.reconnect_max_ms,
                                    int64_t{config.reconnect_min_ms} << std::min(attempt, 20));
    int64_t delay = std::uniform_int_distribution<int64_t>(config.reconnect_min_ms, std::max<int64_t>(cap, config.reconnect_min_ms))(rng);
    ++attempt;
    reconnect_timer.expires_after(std::chrono::milliseconds(delay));
    reconnect_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->connect();
    });
  }

  void connect_failed(const std::string& why) {
    if (stopping) return;
    set_state("disconnected", why);
    log::warning(source_prefix + " cannot connect to " + config.url + ": " + why);
    schedule_reconnect();
  }

  // iaction_listener: the outcome of connect(), on Paho's thread.
  void on_success(const mqtt::token&) override {}  // on_connected handles it
  void on_failure(const mqtt::token& tok) override {
    int rc = tok.get_return_code();
    // MQTT 3.1.1 CONNACK codes (1..5) and MQTT 5 reason codes (>= 128) come back as the
    // return code; Paho's error_str knows neither.
    static constexpr const char* kConnack[] = {
        "", "unacceptable protocol version", "client id rejected", "server unavailable",
        "bad user name or password", "not authorized"};
    std::string why = "connect failed: " +
                      (rc >= 1 && rc <= 5 ? std::string("broker refused: ") + kConnack[rc]
                       : rc >= 128        ? "broker refused: " + mqtt::exception::reason_code_str(rc)
                                          : mqtt::exception::error_str(rc));
    if (std::string reason = mqtt::exception::reason_code_str(tok.get_reason_code());
        tok.get_reason_code() != mqtt::ReasonCode::SUCCESS && !reason.empty())
      why += ", " + reason;
    if (rc == MQTTASYNC_FAILURE && config.url.rfind("ssl://", 0) == 0)
      why += " (TLS handshake or network: check ca_file, cert_file, key_file and the host name "
             "in the certificate)";
    boost::asio::post(io, [self = shared_from_this(), why] { self->connect_failed(why); });
  }

  // The broker's answers to SUBSCRIBE (Paho's thread); the token names the filter and, as
  // its context, the connection it was sent on. A grant is counted in the status; a
  // refusal (an ACL, a bad filter) is logged with the filter and kept as the last error,
  // since nothing will ever arrive on it. A member: it outlives the client, as Paho needs.
  struct SubscribeListener : mqtt::iaction_listener {
    Impl& source;
    explicit SubscribeListener(Impl& s) : source(s) {}
    void on_success(const mqtt::token& tok) override {
      bool granted = true;
      try {  // nothing may throw into Paho's C code
        mqtt::subscribe_response response = tok.get_subscribe_response();
        for (mqtt::ReasonCode rc : response.get_reason_codes())
          granted = granted && rc < mqtt::ReasonCode::UNSPECIFIED_ERROR;  // 0x80 and up: refused
      } catch (const std::exception&) {  // no response kept: Paho said success
      }
      source.subscribe_answer(tok, granted ? "" : "refused by the broker");
    }
    void on_failure(const mqtt::token& tok) override {
      int rc = tok.get_return_code();
      // Discarded by a lost connection or by stop(), which are reported themselves; the
      // next connect subscribes again.
      if (rc == MQTTASYNC_OPERATION_INCOMPLETE || rc == MQTTASYNC_DISCONNECTED) return;
      // The broker's SUBACK said no: 0x80 in MQTT 3.1.1 (return code 0x80); in MQTT 5 a
      // reason code (return code 0).
      mqtt::ReasonCode reason = tok.get_reason_code();
      std::string why = reason >= mqtt::ReasonCode::UNSPECIFIED_ERROR && reason != mqtt::ReasonCode::MQTTPP_V3_CODE
                            ? ": " + mqtt::exception::reason_code_str(reason)
                            : "";
      source.subscribe_answer(tok, rc == MQTTASYNC_SUCCESS || rc == MQTT_BAD_SUBSCRIBE || rc >= 0x80
                                       ? "refused by the broker" + why
                                       : mqtt::exception::error_str(rc));
    }
  } subscribe_listener{*this};

  void subscribe_answer(const mqtt::token& tok, const std::string& refused) {
    auto connect = reinterpret_cast<uintptr_t>(tok.get_user_context());
    auto topics = tok.get_topics();
    std::string filter = topics && !topics->empty() ? (*topics)[0] : "?";
    std::lock_guard lock(status_mutex);
    if (st.connects != connect) return;  // sent on an earlier connection
    if (refused.empty()) {
      if (wanted_filters.count(filter)) granted_filters.insert(std::move(filter));  // once, if still wanted
      st.subscribed = granted_filters.size();
      return;
    }
    st.last_error = "subscribe " + filter + ": " + refused;
    log::error(source_prefix + " " + st.last_error);
  }
  // Under status_mutex: the filters configured (filter -> QoS) and those the broker granted
  // on this connection; st.subscriptions and st.subscribed are their sizes.
  std::map<std::string, int> wanted_filters;
  std::set<std::string> granted_filters;
  void set_wanted(std::map<std::string, int> wanted) {  // status_mutex held
    wanted_filters = std::move(wanted);
    st.subscriptions = wanted_filters.size();
  }
  void clear_granted() {  // status_mutex held
    granted_filters.clear();
    st.subscribed = 0;
  }

  void connected() {  // io thread
    if (stopping || !client) return;  // a connect that completed after stop()
    attempt = 0;
    // Subscribe after every (re)connect: a broker that lost its state needs it again.
    auto wanted = filters(config.subscriptions);
    uint64_t connect;
    {
      std::lock_guard lock(status_mutex);
      connect = ++st.connects;
      set_wanted(wanted);
      clear_granted();
    }
    set_state("connected");
    log::notice(source_prefix + " connected to " + config.url);
    for (const auto& [filter, qos] : wanted) subscribe(filter, qos, connect);
  }

  // Topic filter -> QoS of these subscriptions (two templates can share a filter).
  static std::map<std::string, int> filters(const std::vector<MqttSubscriptionConfig>& subs) {
    std::map<std::string, int> out;
    for (const auto& s : subs) out[mqtt_filter(s.topic)] = s.qos;
    return out;
  }

  void subscribe(const std::string& filter, int qos, uint64_t connect) {  // io thread
    try {
      client->subscribe(filter, qos, reinterpret_cast<void*>(uintptr_t{connect}), subscribe_listener);
    } catch (const mqtt::exception& e) {
      log::error(source_prefix + " subscribe " + filter + ": " + e.what());
    }
  }

  // After remap(): the topic filters the subscriptions add, or give another QoS, are
  // subscribed; those they drop are unsubscribed. Not connected: connected() subscribes.
  void resubscribe(const std::vector<MqttSubscriptionConfig>& before) {  // io thread
    if (stopping || !client || !client->is_connected()) return;
    std::map<std::string, int> had = filters(before), has = filters(config.subscriptions);
    uint64_t connect;
    {
      std::lock_guard lock(status_mutex);
      connect = st.connects;
      set_wanted(has);
      // Kept with the same QoS: still granted. New or changed: counted when the broker answers.
      std::erase_if(granted_filters, [&](const std::string& filter) {
        auto before = had.find(filter), now = has.find(filter);
        return before == had.end() || now == has.end() || before->second != now->second;
      });
      st.subscribed = granted_filters.size();
    }
    for (const auto& [filter, qos] : has)
      if (auto it = had.find(filter); it == had.end() || it->second != qos) subscribe(filter, qos, connect);
    try {
      for (const auto& [filter, qos] : had)
        if (!has.count(filter)) client->unsubscribe(filter);
    } catch (const mqtt::exception& e) {
      log::error(source_prefix + " changing subscriptions: " + e.what());
    }
  }

  void connection_lost(const std::string& cause) {  // io thread
    if (stopping) return;
    set_state("disconnected", cause.empty() ? "connection lost" : cause);
    {
      std::lock_guard lock(status_mutex);
      clear_granted();
    }
    log::warning(source_prefix + " connection lost" + (cause.empty() ? "" : ": " + cause));
    schedule_reconnect();
  }

  // ---- messages (Paho's thread) -----------------------------------------------------

  void log_limited(const std::string& key, const std::string& message) {
    int64_t now = utc_now_ms();
    auto& [suppressed, last] = log_limits[key];
    if (last != 0 && now - last < 10'000) {
      ++suppressed;
      return;
    }
    log::warning(message + (suppressed ? " (" + std::to_string(suppressed) + " more like it not logged)" : ""));
    suppressed = 0;
    last = now;
  }

  // Retries `submit` while the journal pushes back (the source shows "paused"); nullopt
  // when the reading is invalid or the agent is stopping.
  template <typename Submit>
  std::optional<JournalWriter::Ticket> submit_until_accepted(Submit submit) {
    bool paused = false;
    for (;;) {
      auto ticket = submit();
      if (ticket) {
        if (paused) set_state("connected");
        return *ticket;
      }
      if (ticket.error().code == ErrorCode::invalid_argument) return std::nullopt;
      if (stopping) return std::nullopt;
      if (!paused) {
        set_state("paused", ticket.error().to_string());
        log::warning(source_prefix + " journal not accepting, holding messages at the broker: " +
                     ticket.error().to_string());
        paused = true;
      }
      std::this_thread::sleep_for(100ms);
    }
  }

  // The journal refused the message's readings and the agent is stopping. Returning
  // would let Paho acknowledge a message we did not store, so this callback never
  // returns; the agent exits without tearing the client down (see parked()) and the
  // broker delivers the message again to the persistent session.
  [[noreturn]] void park() {
    is_parked = true;
    for (;;) std::this_thread::sleep_for(1h);
  }

  // Blocks until `ticket` is committed: only then may Paho acknowledge the message.
  // While commits fail (a full disk) the source is "paused", as when submit is refused.
  void wait_durable(JournalWriter::Ticket ticket) {
    bool paused = false;
    while (!writer.wait_committed(ticket, 1s)) {
      WriterStats w = writer.stats();
      if (stopping && w.held > 0 && !w.accepting) park();
      if (!paused && !w.accepting) {
        paused = set_state_from("connected", "paused", "journal is not committing: " + w.last_error);
        if (paused)
          log::warning(source_prefix + " journal not committing, holding messages at the broker: " + w.last_error);
      }
    }
    if (paused) set_state_from("paused", "connected");
  }

  // set_state only while the state is `from` (a lost connection is not undone); true if so.
  bool set_state_from(const std::string& from, const std::string& to, const std::string& error = {}) {
    std::lock_guard lock(status_mutex);
    if (st.state != from) return false;
    st.state_since_ms = utc_now_ms();
    st.state = to;
    if (!error.empty()) st.last_error = error;
    return true;
  }

  // Committed when it returns (a bad message is rare: no intake log for it). Returns 0,
  // the ticket of a message that has nothing left to commit.
  JournalWriter::Ticket quarantine(const MqttSubscriptionConfig* sub, std::string_view topic, BadInput reason,
                                   const std::string& detail, std::string_view payload) {
    std::string sub_name = sub ? sub->topic : "";
    std::string key = sub_name + "/" + std::string(to_string(reason));
    {
      std::lock_guard lock(status_mutex);
      ++st.quarantined;
      ++st.bad_inputs[key];
    }
    log_limited(key, source_prefix + " bad message on " + std::string(topic) + ": " +
                         std::string(to_string(reason)) + ": " + detail);
    QuarantinedMessage q{utc_now_ms(), "mqtt:" + config.name, sub_name, std::string(topic),
                         std::string(to_string(reason)), detail, std::string(payload)};
    auto ticket = submit_until_accepted([&] { return writer.submit_quarantine(q); });
    if (!ticket) park();
    wait_durable(*ticket);
    return 0;
  }

  // Maps a message to readings and submits them, or quarantines it. A live message
  // (`live`) is first appended to the intake log, so it is durable when this returns and
  // Paho acknowledges it; a replayed one is in the log already. Returns the last ticket
  // the message produced (0: none).
  JournalWriter::Ticket handle(std::string_view topic, std::string_view payload, int64_t now, bool live) {
    const MqttSubscriptionConfig* sub = nullptr;
    std::optional<Captures> captures;
    for (const auto& s : config.subscriptions)
      if ((captures = match_topic(s.topic, topic))) {
        sub = &s;
        break;
      }
    if (!sub) return quarantine(nullptr, topic, BadInput::unmapped, "no subscription matches", payload);
    auto decoded = decode_message(*sub, *captures, payload, now);
    if (!decoded) return quarantine(sub, topic, decoded.error().reason, decoded.error().detail, payload);
    readings_.clear();
    for (DecodedReading& d : *decoded) {
      const PointConfig* point = site->find_point(d.point_id);
      if (!point) return quarantine(sub, topic, BadInput::unmapped, "no point '" + d.point_id + "'", payload);
      if (!d.unit.empty() && d.unit != point->unit)
        return quarantine(sub, topic, BadInput::wrong_unit,
                          "unit '" + d.unit + "', point " + point->id + " is in " + point->unit, payload);
      Reading& r = readings_.emplace_back();
      r.point_id = std::move(d.point_id);
      r.value = std::move(d.value);
      r.unit = point->unit;
      r.ts_ms = d.ts_ms.value_or(now);
      r.time_source = d.ts_ms ? TimeSource::device : TimeSource::agent;
      r.quality = d.quality;
      r.reason = std::move(d.reason);
      r.source.reserve(source_prefix.size() + topic.size());
      r.source.assign(source_prefix).append(topic);
    }
    // Not kept in the intake log (a full disk): the readings must be committed before
    // Paho may acknowledge, as they were before the log existed.
    bool commit_first = live && !append_to_intake(now, topic, payload);
    JournalWriter::Ticket last = 0;
    for (size_t i = 0; i < readings_.size(); ++i) {
      auto ticket = submit_until_accepted([&] { return writer.take(readings_[i]); });
      if (!ticket) {
        if (stopping) park();
        // Refused as invalid (text the journal cannot store): quarantine the message.
        // Readings before it were accepted and stay; the quarantine row says which.
        return quarantine(sub, topic, BadInput::binary,
                          "reading " + std::to_string(i + 1) + " refused by the journal", payload);
      }
      last = *ticket;
    }
    if (commit_first) wait_durable(last);
    std::lock_guard lock(status_mutex);
    st.readings += readings_.size();
    return last;
  }
  std::vector<Reading> readings_;  // reused: Paho's thread (or start()) only
  static constexpr JournalWriter::Ticket kMaxUncommitted = 1024;

  // False when the log cannot be written (a full disk): logged, at most every 10 s.
  bool append_to_intake(int64_t now, std::string_view topic, std::string_view payload) {
    auto appended = intake.append(now, topic, payload);
    if (!appended)
      log_limited("intake", source_prefix + " intake log: " + appended.error().to_string() +
                                "; committing each message before acknowledging it");
    return bool(appended);
  }

  void message(mqtt::const_message_ptr msg) {
    {
      std::lock_guard lock(status_mutex);
      ++st.messages;
    }
    const auto& payload = msg->get_payload_ref();
    JournalWriter::Ticket last = handle(msg->get_topic(), std::string_view(payload.data(), payload.size()),
                                        utc_now_ms(), true);
    if (last == 0) return;  // quarantined, and committed
    intake.produced(last);
    last_produced = last;
    // The writer signs more slowly than Paho reads: past this many readings not yet
    // committed, wait for it, so memory stays bounded and the broker holds the rest.
    if (last > kMaxUncommitted) wait_durable(last - kMaxUncommitted);
    if (++appends_since_release >= 256) {  // the writer's lock, not at every message
      appends_since_release = 0;
      intake.release(writer.committed_through());
    }
  }

  // Before connecting: what an earlier run accepted (and may have acknowledged) but did
  // not commit is submitted again; the journal stores a reading once.
  void replay_intake() {
    auto replayed = intake.replay([&](const IntakeEntry& e) {
      JournalWriter::Ticket last = handle(e.topic, e.payload, e.recv_ms, false);
      if (last > kMaxUncommitted) wait_durable(last - kMaxUncommitted);  // memory stays bounded
      return last;
    });
    if (!replayed) {
      log::error(source_prefix + " intake log: " + replayed.error().to_string());
      return;
    }
    for (const std::string& torn : replayed->torn)
      log::warning(source_prefix + " intake log cut short (a crash or power loss while writing): " + torn);
    if (replayed->entries > 0)
      log::notice(source_prefix + " replayed " + std::to_string(replayed->entries) + " messages from " +
                  std::to_string(replayed->segments) + " intake segments (stored once)");
  }
};

MqttSource::MqttSource(boost::asio::io_context& io, MqttSourceConfig config, const Config& site,
                       JournalWriter& writer, std::filesystem::path persistence_dir)
    : impl_(std::make_shared<Impl>(io, std::move(config), site, writer, std::move(persistence_dir))) {}

MqttSource::~MqttSource() { stop(); }

Result<void> MqttSource::start() {
  Impl& m = *impl_;
  const MqttSourceConfig& c = m.config;
  auto password = read_secret(c);
  if (!password) return tl::unexpected(password.error());
  std::error_code ec;
  std::filesystem::create_directories(m.persistence_dir, ec);
  try {
    // File persistence keeps QoS 2 state (received, PUBREC sent) across restarts.
    m.client = std::make_unique<mqtt::async_client>(
        c.url, c.client_id,
        mqtt::create_options(c.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1),
        m.persistence_dir.string());
    // Set on the member itself, never built elsewhere and copied in: a copied Paho C++
    // 1.2 connect_options can keep pointers into the object it was copied from (MQTT 5
    // properties crashed MQTTAsync_connect that way). connect() copies this one, which
    // lives as long as the client.
    mqtt::connect_options& opts = m.connect_options;
    opts.set_mqtt_version(c.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1);
    opts.set_keep_alive_interval(std::chrono::seconds(c.keepalive_s));
    opts.set_connect_timeout(std::chrono::seconds(10));
    if (c.mqtt_version == 5) {
      opts.set_clean_start(false);  // and keep the session for session_expiry_s
      mqtt::properties props;
      props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, c.session_expiry_s));
      opts.set_properties(std::move(props));
    } else {
      opts.set_clean_session(false);  // the broker keeps QoS 1/2 messages while we are away
    }
    if (!c.username.empty()) opts.set_user_name(c.username);
    if (!password->empty()) opts.set_password(*password);
    if (c.url.rfind("ssl://", 0) == 0) {
      mqtt::ssl_options ssl;
      ssl.set_enable_server_cert_auth(true);  // the broker's certificate ...
      ssl.set_verify(true);                   // ... and its host name
      if (!c.ca_file.empty()) ssl.set_trust_store(c.ca_file.string());
      if (!c.cert_file.empty()) {
        ssl.set_key_store(c.cert_file.string());
        ssl.set_private_key(c.key_file.string());
      }
      // No ssl error_handler: Paho C++ 1.2 keeps a pointer to the options object it was
      // set on, which is gone once the options are copied (a crash on the first TLS error).
      opts.set_ssl(std::move(ssl));
    }
    std::weak_ptr<Impl> weak = impl_;
    m.client->set_connected_handler([weak](const std::string&) {
      if (auto self = weak.lock()) boost::asio::post(self->io, [self] { self->connected(); });
    });
    m.client->set_connection_lost_handler([weak](const std::string& cause) {
      if (auto self = weak.lock())
        boost::asio::post(self->io, [self, cause] { self->connection_lost(cause); });
    });
    m.client->set_message_callback([weak](mqtt::const_message_ptr msg) {
      auto self = weak.lock();
      if (!self) return;
      std::lock_guard mapping(self->mapping_mutex);  // a reload waits for this message
      try {  // no exception may cross into Paho's C code
        self->message(msg);
      } catch (const std::exception& e) {
        log::error(self->source_prefix + " internal error on " + msg->get_topic() + ": " + e.what());
        self->quarantine(nullptr, msg->get_topic(), BadInput::internal, e.what(),
                         std::string_view(msg->get_payload_ref().data(), msg->get_payload_ref().size()));
      }
    });
  } catch (const mqtt::exception& e) {
    return fail(ErrorCode::config, "sources.mqtt " + c.name, std::string("MQTT client: ") + e.what());
  }
  {
    std::lock_guard lock(m.status_mutex);
    m.set_wanted(Impl::filters(c.subscriptions));
  }
  m.replay_intake();
  boost::asio::post(m.io, [self = impl_] { self->connect(); });
  return {};
}

void MqttSource::stop() {
  Impl& m = *impl_;
  if (m.stopping.exchange(true)) return;
  m.reconnect_timer.cancel();
  m.set_state("stopped");
  if (!m.client) return;
  // The message being handled commits first (stopping makes one the journal refuses park,
  // and a parked callback keeps Paho's lock, which every call below takes: leave it).
  for (;;) {
    if (Impl::MappingLock idle(m.mapping_mutex, 100ms); idle.owns_lock()) break;
    if (m.is_parked) return;
  }
  try {
    if (m.client->is_connected()) m.client->disconnect(2000)->wait_for(std::chrono::seconds(3));
  } catch (const mqtt::exception&) {
  }
  // Destroyed here, on the caller's thread: Paho calls nothing of this source from now on,
  // not even for a connect still under way when stop() began; and the client is never
  // destroyed on Paho's own thread, from inside its message callback (which dropped the
  // last reference once the source was gone, and freed the client under Paho: SIGSEGV).
  m.client.reset();
  // A clean stop leaves no intake segment behind once the journal has what they hold.
  if (m.last_produced != 0) (void)m.writer.wait_committed(m.last_produced, std::chrono::seconds(3));
  m.intake.release(m.writer.committed_through(), true);
}

const MqttSourceConfig& MqttSource::config() const { return impl_->config; }

MqttSource::MappingHold MqttSource::hold_mapping(std::chrono::milliseconds timeout) {
  return MappingHold(impl_->mapping_mutex, timeout);
}

void MqttSource::remap(const MappingHold& hold, const MqttSourceConfig& next, const Config& site) {
  Impl& m = *impl_;
  if (hold.mutex() != &m.mapping_mutex || !hold.owns_lock())
    throw std::logic_error("MqttSource::remap without its mapping hold");
  std::vector<MqttSubscriptionConfig> before = std::move(m.config.subscriptions);
  m.config.subscriptions = next.subscriptions;
  m.config.reconnect_min_ms = next.reconnect_min_ms;
  m.config.reconnect_max_ms = next.reconnect_max_ms;
  m.site = &site;
  // After the reload's handler, which releases the hold: subscribing takes Paho's lock.
  boost::asio::post(m.io, [self = impl_, before = std::move(before)] { self->resubscribe(before); });
}


bool MqttSource::parked() const { return impl_->is_parked; }

MqttSourceStatus MqttSource::status() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->st;
}

}  // namespace mrv::collector
