#include "agent_http.hpp"

#include <algorithm>

#include "http_listener.hpp"
#include "journal_sampler.hpp"
#include "metrics_text.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"
#include "status_page.hpp"

namespace mrv::agent {
namespace {

constexpr auto kRetryListen = std::chrono::seconds(30);

// A source is stale after source_stale_s, or after three intervals of its slowest
// polled point when that is longer (a meter read every 15 min is not stale after 5).
std::map<std::string, int64_t> stale_limits(const Config& c) {
  int64_t base = int64_t{c.http.source_stale_s} * 1000;
  std::map<std::string, int64_t> out;
  for (const auto& s : c.simulated_sources) out["sim:" + s.name] = std::max(base, 3 * int64_t{s.interval_ms});
  for (const auto& m : c.mqtt_sources) out["mqtt:" + m.name] = base;
  for (const auto& g : c.modbus_gateways) {
    int64_t slowest = 0;
    for (const auto& d : g.devices) slowest = std::max(slowest, int64_t{d.interval_ms});
    out["modbus:" + g.name] = std::max(base, 3 * slowest);
  }
  return out;
}

bool wants_json(std::string_view query) {
  for (size_t at = 0; at <= query.size();) {
    size_t end = std::min(query.find('&', at), query.size());
    if (query.substr(at, end - at) == "format=json") return true;
    at = end + 1;
  }
  return false;
}

}  // namespace

AgentHttp::AgentHttp(boost::asio::io_context& io, const Config& config, JournalWriter& writer, StatusFn status)
    : io_(io), writer_(writer), status_(std::move(status)) {
  apply_config(config);
  if (!config.http.enabled) return;  // nothing will ask: no history, no sampler
  history_ = std::make_shared<PointHistory>(config, int64_t{config.http.sparkline_step_s} * 1000);
  sampler_ = std::make_unique<JournalSampler>(config.journal.path, config.journal.quota_bytes,
                                              JournalSampler::Options{});
  // The observer holds the history, not this object: it stays valid on the writer
  // thread whatever the order of destruction.
  writer_.set_commit_observer(
      [history = history_](std::span<const AcceptedReading> committed) { history->observe(committed); });
}

AgentHttp::~AgentHttp() { stop(); }

void AgentHttp::apply_config(const Config& config) {
  bool listen_changed = http_.listen_host != config.http.listen_host || http_.listen_port != config.http.listen_port ||
                        http_.enabled != config.http.enabled;
  if (listener_ && listen_changed)
    log::warning("http: [http] listen and enabled changes take effect at the next start");
  HttpConfig next = config.http;
  if (listener_) {  // keeps listening where it does
    next.enabled = http_.enabled;
    next.listen_host = http_.listen_host;
    next.listen_port = http_.listen_port;
  }
  http_ = next;
  site_id_ = config.site_id;
  simulated_.clear();
  for (const auto& s : config.simulated_sources) simulated_.push_back("sim:" + s.name);
  stale_after_ms_ = stale_limits(config);
  int64_t now = utc_now_ms();
  for (const auto& [label, limit] : stale_after_ms_) watched_since_ms_.emplace(label, now);  // kept if known
  policy_.require_clock_sync = config.http.require_clock_sync;
  policy_.upload_lag_max_s = config.http.upload_lag_max_s;
  if (history_) history_->add_config(config, int64_t{config.http.sparkline_step_s} * 1000);
}

void AgentHttp::start() {
  if (!http_.enabled || !history_) {
    log::info("http: off ([http] enabled = false)");
    return;
  }
  HttpListenerOptions o{http_.listen_host, http_.listen_port, static_cast<size_t>(http_.max_connections),
                        static_cast<size_t>(http_.max_request_bytes),
                        std::chrono::milliseconds(http_.idle_timeout_ms)};
  listener_ = std::make_unique<HttpListener>(
      io_, o, [this](std::string_view path, std::string_view query) { return handle(path, query); });
  try_listen();
}

void AgentHttp::try_listen() {
  if (stopped_) return;
  if (auto r = listener_->start(); r) {
    std::string host = http_.listen_host.find(':') != std::string::npos ? "[" + http_.listen_host + "]" : http_.listen_host;
    log::notice("http: listening on http://" + host + ":" + std::to_string(listener_->port()) +
                " (/healthz, /metrics, /status.json, /)");
    return;
  } else if (!bind_failed_logged_) {
    log::error("http: " + r.error().to_string() + "; the agent runs on without it and tries again every 30 s");
    bind_failed_logged_ = true;
  }
  retry_.emplace(io_, kRetryListen);
  retry_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) try_listen();
  });
}

void AgentHttp::stop() {
  stopped_ = true;
  if (retry_) retry_->cancel();
  if (listener_) listener_->stop();
}

uint16_t AgentHttp::port() const { return listener_ ? listener_->port() : 0; }

AgentStatus AgentHttp::collect(bool with_history) {
  AgentStatus st;
  st.now_ms = utc_now_ms();
  st.site_id = site_id_;
#ifdef MRV_VERSION
  st.version = MRV_VERSION;
#endif
  SourceStatuses sources = status_ ? status_() : SourceStatuses{};
  st.writer = writer_.stats();
  if (history_) st.points = history_->snapshot(with_history, st.now_ms);
  auto add_source = [&](std::string label, const char* kind, const std::string& state, const std::string& error,
                        int64_t state_since_ms) {
    SourceState src;
    src.label = std::move(label);
    src.kind = kind;
    src.state = state;
    src.last_error = error;
    src.state_since_ms = state_since_ms;
    auto limit = stale_after_ms_.find(src.label);
    src.stale_after_ms = limit != stale_after_ms_.end() ? limit->second : int64_t{http_.source_stale_s} * 1000;
    auto since = watched_since_ms_.find(src.label);
    src.watched_since_ms = since != watched_since_ms_.end() ? since->second : st.now_ms;
    st.sources.push_back(std::move(src));
  };
  for (const auto& label : simulated_) add_source(label, "sim", "running", "", 0);
  for (const auto& m : sources.mqtt) add_source("mqtt:" + m.name, "mqtt", m.state, m.last_error, m.state_since_ms);
  for (const auto& g : sources.modbus) add_source("modbus:" + g.name, "modbus", g.state, g.last_error, 0);
  for (auto& src : st.sources) {
    for (const auto& seen : st.points.sources)
      if (seen.label == src.label) {
        src.last_reading_ms = seen.last_reading_received_ms;
        src.readings = seen.readings;
        src.gaps = seen.gaps;
        src.gaps_today = seen.gaps_today;
      }
  }
  st.calibration = std::move(sources.calibration);
  st.mqtt = std::move(sources.mqtt);
  st.modbus = std::move(sources.modbus);
  if (sources.upload) {
    UploadState u{std::move(*sources.upload)};
    if (sampler_) sampler_->set_upload_cursor(u.status.cursor);
    u.lag_records = st.writer.last_seq > u.status.cursor ? st.writer.last_seq - u.status.cursor : 0;
    // The sampled record is used only while it still waits: its age is then at most the
    // true lag (never a false alarm); a moved cursor is looked up at the sampler's next tick.
    auto oldest = sampler_ ? sampler_->oldest_waiting() : JournalSampler::OldestWaiting{};
    if (u.lag_records > 0 && oldest.received_ms > 0 && oldest.seq > u.status.cursor)
      u.lag_s = std::max<double>(0, static_cast<double>(st.now_ms - oldest.received_ms) / 1000.0);
    st.upload = std::move(u);
  }
  if (sampler_) st.journal = sampler_->sizes();
  st.clock_synchronised = read_kernel_clock_sync() == ClockSync::synchronised;
  st.process = read_process_stats();
  return st;
}

HttpResponse AgentHttp::handle(std::string_view path, std::string_view query) {
  if (path == "/healthz") {
    Health h = evaluate_health(collect(false), policy_);
    int code = h.ok ? 200 : 503;
    if (wants_json(query)) return {code, "application/json", health_json(h)};
    return {code, "text/plain; charset=utf-8", health_text(h)};
  }
  if (path == "/metrics") return {200, "text/plain; version=0.0.4; charset=utf-8", render_metrics(collect(false))};
  if (path == "/" || path == "/index.html") {
    AgentStatus st = collect(true);
    return {200, "text/html; charset=utf-8", render_status_page(st, evaluate_health(st, policy_))};
  }
  if (path == "/status.json") return {200, "application/json", status_json(collect(true))};
  return {404, "text/plain; charset=utf-8", "not found; try /healthz, /metrics, /status.json or /\n"};
}

}  // namespace mrv::agent
