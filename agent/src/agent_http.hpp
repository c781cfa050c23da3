#pragma once
// The daemon's HTTP face ([http], docs/operations.md): GET /healthz, /metrics, / (the
// status page) and /status.json on the io_context, from the writer's commits (a
// PointHistory fed by its commit observer), the sources' and uploader's status (asked
// through a callback at each request), a JournalSampler thread, the clock and /proc.
//
// Wiring in run_daemon: construct after the writer and before any source starts (it sets
// the writer's commit observer), start(), stop() in the shutdown path. A port that cannot
// be bound is logged as an error and tried again every 30 s: collecting readings matters
// more than being observed, and a missing /healthz answer is itself an alarm.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent_status.hpp"
#include "health.hpp"
#include "mrv/core/asio.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal_writer.hpp"

namespace mrv::agent {

class HttpListener;
class JournalSampler;
struct HttpResponse;

// The sources, the uploader and the calibration watch as they are now.
struct SourceStatuses {
  std::vector<collector::MqttSourceStatus> mqtt;
  std::vector<collector::ModbusStatus> modbus;
  std::optional<uploader::UploaderStatus> upload;  // nullopt: no uploader
  CalibrationSnapshot calibration;                 // CalibrationWatch::snapshot()
};

class AgentHttp {
 public:
  // Called on the io_context's thread at each request (and must be cheap: status()
  // of each source and of the uploader, a copy of the calibration snapshot).
  using StatusFn = std::function<SourceStatuses()>;

  // `writer` must outlive this object's use of it (the observer it sets holds only
  // shared state, so it stays safe if this object goes first).
  AgentHttp(boost::asio::io_context& io, const Config& config, JournalWriter& writer, StatusFn status);
  ~AgentHttp();
  AgentHttp(const AgentHttp&) = delete;
  AgentHttp& operator=(const AgentHttp&) = delete;

  // Listens as [http] says (nothing when enabled = false). Logs where, or why not.
  void start();
  // Closes the listener and its connections. On the io_context's thread, or when it
  // does not run.
  void stop();
  // A reload: new points and sources, thresholds and step apply at once; a new listen
  // address or enabled flag needs a restart (logged).
  void apply_config(const Config& config);
  uint16_t port() const;  // the bound port (0: not listening)

  // What the endpoints render; with_history: sparkline samples too. On the io thread.
  // With [http] enabled = false nothing is observed: no points, no journal sizes.
  AgentStatus collect(bool with_history);
  // One request (exposed for tests): path before '?', the query after it.
  HttpResponse handle(std::string_view path, std::string_view query);

 private:
  void try_listen();

  boost::asio::io_context& io_;
  JournalWriter& writer_;
  StatusFn status_;
  HttpConfig http_;
  std::string site_id_;
  std::vector<std::string> simulated_;            // "sim:NAME"
  std::map<std::string, int64_t> stale_after_ms_;  // source label -> its limit
  std::map<std::string, int64_t> watched_since_ms_;  // source label -> when first configured
  HealthPolicy policy_;
  std::shared_ptr<PointHistory> history_;
  std::unique_ptr<JournalSampler> sampler_;
  std::unique_ptr<HttpListener> listener_;
  std::optional<boost::asio::steady_timer> retry_;
  bool bind_failed_logged_ = false;
  bool stopped_ = false;
};

}  // namespace mrv::agent
