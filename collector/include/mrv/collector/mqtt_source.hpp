#pragma once
// One MQTT broker connection: subscribes, turns each message into readings (or a
// quarantine row) and acknowledges a QoS 1/2 message only once it is durable.
//
// How nothing is lost (docs/mqtt.md): Paho C (MQTTAsync, 1.3) calls the message callback
// for a QoS 1 message before it sends the PUBACK, and for QoS 2 (MQTT 3.1.1) keeps the
// received PUBLISH in its file persistence (`persistence_dir`) until the callback has
// returned on PUBREL. The callback appends the message to the source's intake log (one
// write(2); fdatasync too at synchronous = "full") and submits its readings to the journal
// writer, which signs and commits them in batches behind the acknowledgement. A kill -9
// before the append leaves the message unacknowledged (the broker delivers it again);
// after it, the next start replays the intake log before connecting. The journal stores
// a reading once (same time, point, value and source), and a replayed message keeps its
// receive time, so even readings stamped with the agent's clock are stored once.
//
// A bad message is quarantined and committed before the callback returns (rare; it is
// not in the intake log).
//
// Back-pressure: while the journal refuses readings, the callback waits (it does not
// read further messages), so the broker holds them in the persistent session.
//
// Reloads: a source whose connection stays keeps its client, connection and broker
// session, so no message is handed from one client to another; only what the next
// message becomes changes, at the point in the chain where records start naming the new
// config (hold_mapping, remap). A source that is replaced is stop()ped first: from then
// on it handles no message.
//
// Threads: Paho callbacks run on Paho's thread; connecting, subscribing, reconnect timers
// and every member function but status() and parked() run on the agent's io_context.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "mrv/core/asio.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"

namespace mrv::collector {

struct MqttSourceStatus {
  std::string name, url;
  std::string state = "starting";  // connecting, connected, disconnected, paused, stopped
  std::string last_error;
  int64_t state_since_ms = 0;
  uint64_t messages = 0, readings = 0, quarantined = 0, connects = 0;
  // Topic filters configured, and those the broker granted since the last connect: a
  // source is ready when they are equal (a refused filter, e.g. by an ACL, stays out).
  size_t subscriptions = 0, subscribed = 0;
  std::map<std::string, uint64_t> bad_inputs;  // "topic template/reason" -> count
};

class MqttSource {
 public:
  MqttSource(boost::asio::io_context& io, MqttSourceConfig config, const Config& site,
             JournalWriter& writer, std::filesystem::path persistence_dir);
  ~MqttSource();
  MqttSource(const MqttSource&) = delete;
  MqttSource& operator=(const MqttSource&) = delete;

  // Creates the client and starts connecting; fails on a setup error (bad password
  // file, bad URL), never on the broker being down (that is retried, with backoff).
  [[nodiscard]] Result<void> start();
  // Lets the message being handled commit (and be acknowledged), disconnects and destroys
  // the client: when it returns, no message of this source is handled any more. A
  // callback that is parked (see parked()) is left as it is.
  void stop();
  const MqttSourceConfig& config() const;

  // A reload's switch of what messages become. While the hold is owned, no message of
  // this source is being mapped or committed, and the next one waits (unacknowledged) in
  // Paho's callback. Not owned if the message being handled did not commit within
  // `timeout` (the journal is not taking readings). While holding, call nothing that
  // takes Paho's (process-wide) lock, such as start() or stop() of any source: the
  // waiting callback has it.
  using MappingHold = std::unique_lock<std::timed_mutex>;
  [[nodiscard]] MappingHold hold_mapping(std::chrono::milliseconds timeout);
  // Under a hold: the next messages are mapped by `next` (same connection, see
  // agent/reload_check) and `site`, which must outlive the source. Topic filters the new
  // subscriptions add are subscribed, and those they drop unsubscribed, once the hold is
  // released.
  void remap(const MappingHold& hold, const MqttSourceConfig& next, const Config& site);
  // True while a message callback holds a message the journal refused during stop: the
  // process must exit without tearing the client down (which would wait for the callback
  // and then acknowledge the message). The broker redelivers it after the restart.
  bool parked() const;
  MqttSourceStatus status() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace mrv::collector
