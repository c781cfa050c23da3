// run: the daemon. One io_context runs the sources; the journal writer has its own
// thread; SIGHUP reloads the config (docs/operations.md), SIGINT/SIGTERM stop the
// sources, commit what is queued and exit. Under systemd it reports READY, RELOADING,
// STOPPING and WATCHDOG (Type=notify).
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>

#include <list>

#include "agent_http.hpp"
#include "calibration_watch.hpp"
#include "commands.hpp"
#include "entry_socket.hpp"
#include "head_witnesses.hpp"
#include "tpm_start_counter.hpp"
#include "mrv/agent/state_file.hpp"
#include "mrv/core/asio.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"
#include "mrv/core/log.hpp"
#include "mrv/uploader/uploader.hpp"
#include "reload_check.hpp"
#include "source_set.hpp"
#include "systemd_notify.hpp"

namespace mrv::agent {

namespace {

void log_config_errors(const ConfigErrors& errors) {
  for (const Error& e : errors) log::error(e.to_string());
}

}  // namespace

JournalOptions journal_options_of(const Config& config) {
  return JournalOptions{config.journal.path,         config.journal.synchronous,
                        config.journal.quota_bytes,  config.journal.on_chain_break,
                        config.site_id,              config.hash_hex,
                        config.text,                 read_boot_id(),
                        config.journal.quarantine_max_rows,
                        config.signing.checkpoint_interval_ms,
                        config.signing.checkpoint_every_records,
                        config.signing.checkpoint_only};
}

int run_daemon(const std::filesystem::path& config_path, double duration_s) {
  ::umask(027);  // the journal holds the config text: not for every local user
  // Every config this process ran under: sources keep references into theirs, and a
  // handler of a stopped source may still be queued. A few kB each; reloads are rare.
  std::list<Config> configs;
  {
    auto loaded = load_config(config_path);
    if (!loaded) {
      log_config_errors(loaded.error());
      return kExitUsage;
    }
    configs.push_back(std::move(*loaded));
  }
  const Config* config = &configs.back();
  // A key held in the TPM: this start bound to the TPM's counter (docs/verification.md §8.4).
  std::optional<TpmStart> tpm_start;
  if (is_tpm_key_file(config->signing.key_file)) tpm_start = start_on_tpm_counter(*config);
  auto signer = Signer::load(config->signing.key_file, config->signing.tpm_tcti);
  if (!signer) {
    log::error(signer.error().to_string());
    return kExitFailure;
  }
  log::info("site " + config->site_id + ", config " + config->hash_hex + ", key " +
            signer->key_id_hex() + " (" + std::string(to_string(signer->algorithm())) +
            (signer->in_tpm() ? ", held in the TPM" : "") + ")");

  JournalOptions options = journal_options_of(*config);
  options.head_witnesses = head_witnesses(*config, *signer);  // besides the anchor: state file, registry
  auto journal = Journal::open_for_writing(options, std::move(*signer));
  if (!journal) {
    log::error("cannot open the journal: " + journal.error().to_string());
    return kExitFailure;
  }
  if (tpm_start)
    if (auto r = journal->add_tpm_start(*tpm_start); !r)
      log::error("cannot keep this start's TPM counter: " + r.error().to_string());
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
  SourceSet sources(io, *config, writer);
  std::optional<uploader::Uploader> upload;
  // Calibration warnings (log, /metrics, /healthz, the page): on a thread of its own.
  CalibrationWatch calibrations(*config, CalibrationWatch::Options{});
  // /healthz, /metrics and the status page ([http]); before any source starts: it
  // observes the writer's commits.
  AgentHttp http(io, *config, writer, [&] {
    SourceStatuses s{sources.mqtt_status(), sources.modbus_status(), std::nullopt, calibrations.snapshot()};
    if (upload) s.upload = upload->status();
    return s;
  });
  http.start();
  // People's site records (mrv-agent record) reach the journal's one writer here.
  EntrySocket entries(io, writer, *config);
  if (auto r = entries.start(); !r) {
    log::error(r.error().to_string());
    return kExitFailure;
  }
  log::info("site records are entered on " + config->journal.control_socket.string());
  if (auto r = sources.start(); !r) {
    log::error(r.error().to_string());
    return kExitFailure;
  }
  auto start_upload = [&]() -> bool {
    if (config->upload.url.empty()) return true;
    upload.emplace(*config, writer, [](int priority, const std::string& m) { log::write(priority, m); });
    if (auto r = upload->start(); !r) {
      log::error(r.error().to_string());
      upload.reset();
      return false;
    }
    log::info("uploading to " + config->upload.url);
    return true;
  };
  if (!start_upload()) return kExitUsage;
  auto save_state = [&] {
    std::optional<uploader::UploaderStatus> uploading;
    if (upload) uploading = upload->status();
    write_state_file(config->journal.path, writer.stats(), sources.mqtt_status(), sources.modbus_status(),
                     uploading);
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

  // SIGHUP: the new config is loaded and checked whole before anything changes; then, at
  // one point in the chain, records start naming the new config and the sources start
  // mapping with it (SourceSet::apply: MQTT sources that connect as before keep their
  // connection and session; the others stop before that point and start after it). A
  // step that fails leaves the old config running. The watchdog is fed between the steps.
  auto reload = [&] {
    notify_reloading();
    auto loaded = load_config(config_path);
    WriterStats writing = writer.stats();
    if (!loaded) {
      log::error("reload refused, the running config stays: " + config_path.string() + " has errors");
      log_config_errors(loaded.error());
    } else if (loaded->hash_hex == config->hash_hex) {
      log::notice("reload: the config is unchanged");
    } else if (auto why = needs_restart(*config, *loaded)) {
      log::error("reload refused, the running config stays: " + *why + " changed, which needs a restart");
    } else if (auto source = needs_two_reloads(*config, *loaded)) {
      log::error("reload refused, the running config stays: " + *source +
                 " changes its connection and its subscriptions at once; reload one change, then the other");
    } else if (!writing.accepting) {
      log::error("reload refused, the running config stays: the journal is not committing (" + writing.last_error +
                 "); reload once it is");
    } else {
      if (upload) upload->stop();
      notify_watchdog();
      configs.push_back(std::move(*loaded));
      const Config& next = configs.back();
      auto switched = sources.apply(next, [&] { return writer.reconfigure(next.hash_hex, next.text); });
      notify_watchdog();
      if (!switched) {
        configs.pop_back();
        log::error("reload abandoned, the running config stays: " + switched.error().to_string());
      } else {
        config = &next;
        http.apply_config(*config);
        entries.apply_config(*config);
        calibrations.set_config(*config);
        log::notice("reloaded: config " + config->hash_hex + ", " + std::to_string(config->points.size()) +
                    " point(s)");
      }
      if (auto r = sources.start(); !r) log::error("reload: " + r.error().to_string());
      upload.reset();
      start_upload();
    }
    notify_ready("running, config " + config->hash_hex.substr(0, 12));
  };

  auto shutdown = [&] {
    notify_stopping();
    http.stop();
    entries.stop();
    sources.stop();
    io.stop();
  };
  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        log::notice("signal 1 (SIGHUP): reloading " + config_path.string());
        reload();
        wait_signal();
        return;
      }
      log::notice("signal " + std::to_string(signal) + ": stopping");
      shutdown();
    });
  };
  wait_signal();
  std::optional<boost::asio::steady_timer> deadline;
  if (duration_s > 0) {
    deadline.emplace(io, std::chrono::milliseconds(static_cast<int64_t>(duration_s * 1000)));
    deadline->async_wait([&](const boost::system::error_code& ec) {
      if (!ec) shutdown();
    });
  }
  // The watchdog is fed from the event loop, so a stuck loop stops feeding it.
  boost::asio::steady_timer watchdog(io);
  std::function<void()> feed_watchdog = [&] {
    notify_watchdog();
    watchdog.expires_after(*watchdog_period());
    watchdog.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) feed_watchdog();
    });
  };
  if (watchdog_period()) feed_watchdog();
  log::notice("running: " + std::to_string(sources.size()) + " source(s), " +
              std::to_string(config->points.size()) + " point(s)");
  notify_ready("running, config " + config->hash_hex.substr(0, 12));
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
  if (sources.mqtt_parked()) {
    log::warning("mqtt: a message the journal refused stays unacknowledged at the broker");
    std::fflush(nullptr);
    std::_Exit(code);
  }
  return code;
}

}  // namespace mrv::agent
