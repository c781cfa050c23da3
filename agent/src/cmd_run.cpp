// run: the daemon. One io_context runs the sources; the journal writer has its own
// thread; SIGINT/SIGTERM stop the sources, commit what is queued and exit.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>

#include "commands.hpp"
#include "mrv/agent/state_file.hpp"
#include "mrv/collector/modbus_source.hpp"
#include "mrv/collector/mqtt_source.hpp"
#include "mrv/collector/simulated_source.hpp"
#include "mrv/core/asio.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"
#include "mrv/core/log.hpp"
#include "mrv/uploader/uploader.hpp"

namespace mrv::agent {

int run_daemon(const std::filesystem::path& config_path, double duration_s) {
  ::umask(027);  // the journal holds the config text: not for every local user
  auto config = load_config(config_path);
  if (!config) {
    for (const Error& e : config.error()) log::error(e.to_string());
    return kExitUsage;
  }
  auto signer = Signer::load(config->signing.key_file);
  if (!signer) {
    log::error(signer.error().to_string());
    return kExitFailure;
  }
  log::info("site " + config->site_id + ", config " + config->hash_hex + ", key " +
            signer->key_id_hex() + " (" + std::string(to_string(signer->algorithm())) + ")");

  JournalOptions options{config->journal.path,         config->journal.synchronous,
                         config->journal.quota_bytes,  config->journal.on_chain_break,
                         config->site_id,              config->hash_hex,
                         config->text,                 read_boot_id(),
                         config->journal.quarantine_max_rows,
                         config->signing.checkpoint_interval_ms,
                         config->signing.checkpoint_every_records,
                         config->signing.checkpoint_only};
  auto journal = Journal::open_for_writing(options, std::move(*signer));
  if (!journal) {
    log::error("cannot open the journal: " + journal.error().to_string());
    return kExitFailure;
  }
  if (!journal->chain_check_at_open().intact)
    log::error("chain break found at start, new chain segment opened at seq " +
               std::to_string(journal->last_seq()) + ": " + journal->chain_check_at_open().problem);
  log::info("journal " + config->journal.path.string() + " at seq " +
            std::to_string(journal->last_seq()));

  SystemClock clock;
  JournalWriter writer(std::move(*journal),
                       WriterOptions{std::chrono::milliseconds(config->journal.commit_interval_ms),
                                     static_cast<size_t>(config->journal.max_batch),
                                     static_cast<size_t>(config->journal.queue_capacity)},
                       clock, [](int priority, const std::string& m) { log::write(priority, m); });

  boost::asio::io_context io;
  std::vector<std::unique_ptr<collector::SimulatedSource>> simulated;
  for (const auto& s : config->simulated_sources) {
    std::vector<PointConfig> points;
    for (const auto& id : s.points) points.push_back(*config->find_point(id));
    simulated.push_back(std::make_unique<collector::SimulatedSource>(io, s, std::move(points), writer));
    simulated.back()->start();
  }
  std::vector<std::unique_ptr<collector::MqttSource>> mqtt;
  for (const auto& m : config->mqtt_sources) {
    auto dir = config->journal.path.parent_path() / "mqtt" / m.name;  // Paho's persistence
    mqtt.push_back(std::make_unique<collector::MqttSource>(io, m, *config, writer, dir));
    if (auto r = mqtt.back()->start(); !r) {
      log::error(r.error().to_string());
      return kExitFailure;
    }
  }
  std::vector<std::unique_ptr<collector::ModbusGateway>> modbus;
  for (const auto& g : config->modbus_gateways) {
    modbus.push_back(std::make_unique<collector::ModbusGateway>(io, g, *config, writer));
    modbus.back()->start();
  }
  std::optional<uploader::Uploader> upload;
  if (!config->upload.url.empty()) {
    upload.emplace(*config, writer, [](int priority, const std::string& m) { log::write(priority, m); });
    if (auto r = upload->start(); !r) {
      log::error(r.error().to_string());
      return kExitUsage;
    }
    log::info("uploading to " + config->upload.url);
  }
  auto save_state = [&] {
    std::vector<collector::MqttSourceStatus> states;
    for (auto& m : mqtt) states.push_back(m->status());
    std::vector<collector::ModbusStatus> gateways;
    for (auto& g : modbus) gateways.push_back(g->status());
    std::optional<uploader::UploaderStatus> uploading;
    if (upload) uploading = upload->status();
    write_state_file(config->journal.path, writer.stats(), states, gateways, uploading);
  };
  boost::asio::steady_timer state_timer(io);
  std::function<void()> save_state_every_2s = [&] {
    save_state();
    state_timer.expires_after(std::chrono::seconds(2));
    state_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) save_state_every_2s();
    });
  };
  save_state_every_2s();

  auto shutdown = [&] {
    for (auto& s : simulated) s->stop();
    for (auto& m : mqtt) m->stop();
    for (auto& g : modbus) g->stop();
    io.stop();
  };
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (!ec) log::notice("signal " + std::to_string(signal) + ": stopping");
    shutdown();
  });
  std::optional<boost::asio::steady_timer> deadline;
  if (duration_s > 0) {
    deadline.emplace(io, std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000)));
    deadline->async_wait([&](const boost::system::error_code& ec) {
      if (!ec) shutdown();
    });
  }
  log::notice("running: " + std::to_string(simulated.size() + mqtt.size() + modbus.size()) +
              " source(s), " +
              std::to_string(config->points.size()) + " point(s)");
  io.run();
  if (upload) upload->stop();  // before the writer it hands receipts to
  writer.stop();  // commits what is queued; message callbacks waiting on it return
  save_state();
  WriterStats st = writer.stats();
  log::notice("stopped: " + std::to_string(st.stored) + " readings stored, " +
              std::to_string(st.duplicates) + " duplicates, " + std::to_string(st.refused) +
              " refused, last seq " + std::to_string(st.last_seq));
  int code = kExitOk;
  if (st.held > 0) {
    log::error(std::to_string(st.held) + " accepted readings could not be committed: " +
               st.last_error);
    code = kExitFailure;
  }
  for (auto& m : mqtt)
    if (m->parked()) {
      log::warning("mqtt:" + m->status().name +
                   ": a message the journal refused stays unacknowledged at the broker");
      std::fflush(nullptr);
      std::_Exit(code);
    }
  return code;
}

}  // namespace mrv::agent
