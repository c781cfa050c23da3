#include "mrv/collector/modbus_source.hpp"

#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <mutex>
#include <optional>

#include "mrv/collector/modbus_frames.hpp"
#include "mrv/collector/modbus_registers.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"

namespace mrv::collector {
namespace {
using boost::asio::ip::tcp;
using namespace modbus;

const char* table_name(Function f) {
  switch (f) {
    case Function::read_coils: return "coil";
    case Function::read_discrete_inputs: return "discrete";
    case Function::read_holding_registers: return "holding";
    case Function::read_input_registers: return "input";
  }
  return "?";
}
}  // namespace

struct ModbusGateway::Impl : std::enable_shared_from_this<ModbusGateway::Impl> {
  struct Device {
    ModbusDeviceConfig config;
    std::vector<PointRegisters> points;
    std::vector<const PointConfig*> point_configs;
    std::vector<std::string> sources;  // each point's record source, built once
    std::vector<size_t> all;           // 0..points-1: every point, for a skipped poll
    std::vector<PlannedRequest> plan;
    std::unique_ptr<boost::asio::steady_timer> timer;
    int pending = 0;      // requests of the current poll not yet answered
    bool poll_failed = false;
    int failures = 0;     // consecutive failed polls
    int skip = 0;         // polls to skip before trying again (backoff)
    int64_t next_due_ms = 0;  // wall-clock boundary of the next poll
    std::map<size_t, std::pair<double, std::string>> last_counter;  // cumulative points: last value
    std::map<size_t, std::string> last_text;  // string registers: last identity read
    // The log of failed requests: a new reason is logged at once, the same one again
    // once in 10 s, with how many were not logged.
    std::string logged_reason;
    int64_t logged_ms = 0;  // steady clock
    int suppressed = 0;
  };
  struct Job {
    size_t device, request;
    int attempt = 0;
  };

  boost::asio::io_context& io;
  ModbusGatewayConfig config;
  const Config& site;
  JournalWriter& writer;
  // One connection (or the serial line) carrying one request at a time. A TCP gateway
  // has `concurrency` of them, so that many requests are in flight.
  struct Channel {
    explicit Channel(boost::asio::io_context& io) : socket(io), serial(io), resolver(io), deadline(io) {}
    tcp::socket socket;               // tcp, rtu_over_tcp
    boost::asio::serial_port serial;  // rtu_serial
    tcp::resolver resolver;
    boost::asio::steady_timer deadline;
    std::optional<Job> job;  // the request in flight
    // Bumped whenever an operation on this channel starts or ends: a completion or a
    // deadline that arrives with an older generation is stale and does nothing.
    uint64_t generation = 0;
    bool connected = false;
    uint16_t transaction = 0;
    std::string rx;
    std::array<char, 512> buf{};
  };

  std::vector<Device> devices;
  std::deque<Job> queue;
  std::vector<std::unique_ptr<Channel>> channels;
  bool stopping = false;
  uint64_t refused = 0;  // readings the journal refused (io thread)
  mutable std::mutex status_mutex;
  ModbusStatus st;

  Impl(boost::asio::io_context& io_, ModbusGatewayConfig c, const Config& s, JournalWriter& w)
      : io(io_), config(std::move(c)), site(s), writer(w) {
    st.name = config.name;
    int n = config.transport == ModbusTransport::rtu_serial ? 1 : config.concurrency;
    for (int i = 0; i < n; ++i) channels.push_back(std::make_unique<Channel>(io));
    for (const auto& d : config.devices) {
      Device dev;
      dev.config = d;
      for (const auto& r : d.registers) {
        PointRegisters p;
        p.point_id = r.point;
        p.function = static_cast<Function>(r.table);
        p.address = r.address;
        p.type = r.type;
        p.order = r.order;
        p.scale = r.scale;
        p.offset = r.offset;
        p.string_registers = r.string_registers;
        dev.points.push_back(p);
        dev.point_configs.push_back(site.find_point(r.point));
        dev.all.push_back(dev.all.size());
        dev.sources.push_back("modbus:" + config.name + "/unit" + std::to_string(d.unit) + "/" +
                              table_name(p.function) + "/" + std::to_string(p.address));
      }
      dev.plan = plan_requests(d.unit, dev.points, config.max_gap);
      dev.timer = std::make_unique<boost::asio::steady_timer>(io);
      devices.push_back(std::move(dev));
    }
  }

  void set_state(const std::string& s, const std::string& error = {}) {
    std::lock_guard lock(status_mutex);
    st.state = s;
    if (!error.empty()) st.last_error = error;
  }


  void submit(const Device& d, size_t point, std::string value, Quality q, std::string reason) {
    Reading r;
    r.point_id = d.points[point].point_id;
    r.value = std::move(value);
    r.unit = d.point_configs[point] ? d.point_configs[point]->unit : "";
    r.ts_ms = utc_now_ms();
    r.time_source = TimeSource::agent;
    r.quality = q;
    r.reason = std::move(reason);
    r.source = d.sources[point];
    bool gap = q == Quality::bad;
    if (auto t = writer.submit(std::move(r)); !t) {
      // The journal pushes back (full): the poll is lost, and said so, once in a while.
      if (refused++ % 1000 == 0)
        log::warning("modbus:" + config.name + ": journal refused " + std::to_string(refused) +
                     " reading(s) so far: " + t.error().to_string());
      return;
    }
    std::lock_guard lock(status_mutex);
    ++(gap ? st.gaps : st.readings);
  }

  void gap(const Device& d, const std::vector<size_t>& points, const std::string& reason) {
    for (size_t i : points) submit(d, i, "", Quality::bad, reason);
  }

  // A request that became a gap (a bad frame, a timeout, a lost connection, an exception):
  // the log names the device, its registers and what was wrong.
  void log_failed(Device& d, const Request& r, const std::string& reason) {
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now().time_since_epoch()).count();
    if (reason == d.logged_reason && now - d.logged_ms < 10'000) {
      ++d.suppressed;
      return;
    }
    std::string regs = std::string(table_name(r.function)) + " " + std::to_string(r.address) +
                       (r.count > 1 ? "-" + std::to_string(r.address + r.count - 1) : "");
    log::warning("modbus:" + config.name + ": " + d.config.name + " (unit " + std::to_string(r.unit) + ") " +
                 regs + ": " + reason +
                 (!d.suppressed ? ""
                  : reason == d.logged_reason
                      ? " (" + std::to_string(d.suppressed) + " more like it not logged)"
                      : " (before it, " + std::to_string(d.suppressed) + " more '" + d.logged_reason +
                            "' not logged)"));
    d.logged_reason = reason;
    d.logged_ms = now;
    d.suppressed = 0;
  }


  // ---- schedule ---------------------------------------------------------------------

  void schedule(size_t di) {
    if (stopping) return;
    Device& d = devices[di];
    int64_t now = utc_now_ms();
    int64_t next = (now / d.config.interval_ms + 1) * d.config.interval_ms;
    // The wait runs on the steady clock; if the wall clock slewed back, the same boundary
    // must not come round twice.
    if (next <= d.next_due_ms) next = d.next_due_ms + d.config.interval_ms;
    d.next_due_ms = next;
    d.timer->expires_after(std::chrono::milliseconds(std::max<int64_t>(next - now, 0)));
    d.timer->async_wait([self = shared_from_this(), di](const boost::system::error_code& ec) {
      if (ec || self->stopping) return;
      self->tick(di);
      self->schedule(di);
    });
  }

  void tick(size_t di) {
    Device& d = devices[di];
    {
      std::lock_guard lock(status_mutex);
      ++st.polls;
    }
    if (d.pending > 0) return gap(d, d.all, "poll skipped: the previous poll is still running");
    if (d.skip > 0) {  // a dead device is tried less often, so it delays nobody
      --d.skip;
      return gap(d, d.all, "poll skipped: device not answering (" +
                                       std::to_string(d.failures) + " failed polls)");
    }
    d.pending = static_cast<int>(d.plan.size());
    d.poll_failed = false;
    for (size_t r = 0; r < d.plan.size(); ++r) queue.push_back({di, r, 0});
    pump();
  }

  void request_done(size_t di, bool ok) {
    Device& d = devices[di];
    d.poll_failed = d.poll_failed || !ok;
    if (--d.pending > 0) return;
    if (d.poll_failed) {
      d.failures++;
      d.skip = std::min((1 << std::min(d.failures, 6)) - 1, 60'000 / d.config.interval_ms);
    } else {
      d.failures = 0;
    }
  }

  // ---- the connections ----------------------------------------------------------------

  bool on_serial() const { return config.transport == ModbusTransport::rtu_serial; }
  bool rtu_framing() const { return config.transport != ModbusTransport::tcp; }

  void close_stream(Channel& c) {
    boost::system::error_code ignored;
    if (on_serial()) c.serial.close(ignored);
    else c.socket.close(ignored);
    c.connected = false;
  }

  void cancel_stream(Channel& c) {  // a pending read completes with operation_aborted
    boost::system::error_code ignored;
    if (on_serial()) c.serial.cancel(ignored);
    else c.socket.cancel(ignored);
  }

  // Starts the next queued request on every idle channel.
  void pump() {
    if (stopping) return;
    for (auto& cp : channels) {
      Channel& c = *cp;
      if (c.job || queue.empty()) continue;
      c.job = queue.front();
      queue.pop_front();
      if (c.connected) send(c);
      else connect(c);
    }
  }

  void connect(Channel& c) {
    set_state("connecting");
    if (on_serial()) return open_serial(c);
    uint64_t gen = ++c.generation;
    c.deadline.expires_after(std::chrono::milliseconds(config.timeout_ms));
    c.deadline.async_wait([self = shared_from_this(), &c, gen](const boost::system::error_code& ec) {
      if (ec || gen != c.generation) return;
      self->connection_failed(c, "connect timeout after " + std::to_string(self->config.timeout_ms) + " ms");
    });
    c.resolver.async_resolve(config.host, std::to_string(config.port),
                             [self = shared_from_this(), &c, gen](const boost::system::error_code& ec,
                                                                  tcp::resolver::results_type results) {
      if (gen != c.generation) return;
      if (ec) return self->connection_failed(c, "cannot resolve " + self->config.host + ": " + ec.message());
      boost::asio::async_connect(c.socket, results,
                                 [self, &c, gen](const boost::system::error_code& ec2, const tcp::endpoint&) {
        if (gen != c.generation) return;
        if (ec2) return self->connection_failed(c, "cannot connect to " + self->config.host + ":" +
                                                       std::to_string(self->config.port) + ": " + ec2.message());
        self->finish(c);
        c.connected = true;
        self->set_state("connected");
        self->send(c);
      });
    });
  }

  // Ends the channel's current operation: its deadline and late completions go stale.
  void finish(Channel& c) {
    ++c.generation;
    c.deadline.cancel();
  }

  void open_serial(Channel& c) {
    using sp = boost::asio::serial_port_base;
    boost::system::error_code ec;
    c.serial.open(config.serial_device, ec);
    if (!ec) c.serial.set_option(sp::baud_rate(static_cast<unsigned>(config.baud)), ec);
    if (!ec) c.serial.set_option(sp::character_size(static_cast<unsigned>(config.data_bits)), ec);
    if (!ec)
      c.serial.set_option(sp::parity(config.parity == 'E'   ? sp::parity::even
                                     : config.parity == 'O' ? sp::parity::odd
                                                            : sp::parity::none),
                          ec);
    if (!ec)
      c.serial.set_option(sp::stop_bits(config.stop_bits == 2 ? sp::stop_bits::two : sp::stop_bits::one), ec);
    if (ec) return connection_failed(c, "cannot open " + config.serial_device + ": " + ec.message());
    finish(c);
    c.connected = true;
    set_state("connected");
    send(c);
  }

  // No connection. Its request fails (a gap); so does everything queued when no other
  // channel of this gateway is connected to carry it.
  void connection_failed(Channel& c, const std::string& why) {
    finish(c);
    c.resolver.cancel();
    set_state("disconnected", why);
    log::warning("modbus:" + config.name + ": " + why);
    close_stream(c);
    std::deque<Job> failed;
    if (c.job) failed.push_back(*c.job);
    c.job.reset();
    bool others = std::any_of(channels.begin(), channels.end(), [](const auto& o) { return o->connected; });
    if (!others) {
      failed.insert(failed.end(), queue.begin(), queue.end());
      queue.clear();
    }
    for (const Job& j : failed) {
      const Device& d = devices[j.device];
      gap(d, d.plan[j.request].points, why);
      request_done(j.device, false);
    }
    pump();
  }

  void send(Channel& c) {
    const Request& req = devices[c.job->device].plan[c.job->request].request;
    ++c.transaction;
    std::string frame = rtu_framing() ? encode_rtu(req) : encode_tcp(req, c.transaction);
    c.rx.clear();
    {
      std::lock_guard lock(status_mutex);
      ++st.requests;
    }
    uint64_t gen = ++c.generation;
    c.deadline.expires_after(std::chrono::milliseconds(config.timeout_ms));
    c.deadline.async_wait([self = shared_from_this(), &c, gen](const boost::system::error_code& ec) {
      if (ec || gen != c.generation) return;
      self->attempt_failed(c, "timeout after " + std::to_string(self->config.timeout_ms) + " ms");
    });
    auto data = std::make_shared<std::string>(std::move(frame));
    auto written = [self = shared_from_this(), &c, gen, data](const boost::system::error_code& ec, size_t) {
      if (gen != c.generation) return;
      if (ec) return self->attempt_failed(c, "write failed: " + ec.message());
      self->read(c, gen);
    };
    if (on_serial()) boost::asio::async_write(c.serial, boost::asio::buffer(*data), written);
    else boost::asio::async_write(c.socket, boost::asio::buffer(*data), written);
  }

  void read(Channel& c, uint64_t gen) {
    auto received = [self = shared_from_this(), &c, gen](const boost::system::error_code& ec, size_t n) {
      if (gen != c.generation) return;  // the deadline (or stop) got there first
      if (ec) return self->attempt_failed(c, "connection lost: " + ec.message());
      c.rx.append(c.buf.data(), n);
      const Request& req = self->devices[c.job->device].plan[c.job->request].request;
      Parsed p = self->rtu_framing() ? parse_rtu(c.rx, req) : parse_tcp(c.rx, req, c.transaction);
      if (p.status == Parsed::Status::need_more) return self->read(c, gen);
      if (p.status == Parsed::Status::bad_frame) return self->attempt_failed(c, "bad response: " + p.error);
      self->answered(c, p.response);
    };
    if (on_serial()) c.serial.async_read_some(boost::asio::buffer(c.buf), received);
    else c.socket.async_read_some(boost::asio::buffer(c.buf), received);
  }

  // The request failed: the stream may be out of step, so it is reopened; the request is
  // retried (first in the queue) or recorded as a gap.
  void attempt_failed(Channel& c, const std::string& why) {
    finish(c);
    close_stream(c);
    if (stopping) return;  // (stop() made every pending completion stale anyway)
    Job j = *c.job;
    c.job.reset();
    if (j.attempt < config.retries) {
      ++j.attempt;
      {
        std::lock_guard lock(status_mutex);
        ++st.retries;
      }
      queue.push_front(j);
      return pump();
    }
    Device& d = devices[j.device];
    std::string reason = why + (config.retries ? " (" + std::to_string(config.retries + 1) + " tries)" : "");
    set_state("disconnected", reason);
    log_failed(d, d.plan[j.request].request, reason);
    gap(d, d.plan[j.request].points, reason);
    request_done(j.device, false);
    pump();
  }

  void answered(Channel& c, const Response& resp) {
    finish(c);
    Job j = *c.job;
    c.job.reset();
    Device& d = devices[j.device];
    const PlannedRequest& pr = d.plan[j.request];
    if (resp.exception) {
      // The device answered: a gap for these points, but no reason to back it off.
      std::string reason = "exception response: " + exception_name(*resp.exception);
      log_failed(d, pr.request, reason);
      gap(d, pr.points, reason);
      request_done(j.device, true);
    } else {
      for (size_t i : pr.points) decode_and_submit(d, i, pr.request, resp);
      request_done(j.device, true);
    }
    pump();
  }

  // A text register (a serial number, a model name) is not a reading: it is checked
  // against the point's meter_serial, and a mismatch is recorded each time the text
  // changes (a meter exchanged, or the wrong meter wired), never silently.
  void check_identity(Device& d, size_t i, const std::string& text) {
    const PointConfig* pc = d.point_configs[i];
    auto& last = d.last_text[i];
    if (!pc || pc->meter_serial.empty() || text == pc->meter_serial || text == last) {
      last = text;
      return;
    }
    last = text;
    submit(d, i, "", Quality::bad,
           "meter identity reads '" + text + "', configured meter_serial is '" + pc->meter_serial + "'");
  }

  void decode_and_submit(Device& d, size_t i, const Request& req, const Response& resp) {
    const PointRegisters& p = d.points[i];
    size_t offset = p.address - req.address;
    Result<std::string> value =
        is_bit_function(p.function)
            ? decode_bit(p, resp.bits.at(offset))
            : decode_value(p, std::span<const uint16_t>(resp.registers).subspan(offset, span_of(p)));
    if (!value) return submit(d, i, "", Quality::bad, value.error().message);
    if (p.type == ValueType::string) return check_identity(d, i, *value);
    std::string reason;
    Quality q = Quality::good;
    const PointConfig* pc = d.point_configs[i];
    if (pc && pc->kind == PointKind::cumulative && p.type != ValueType::string) {
      double v = std::strtod(value->c_str(), nullptr);
      auto last = d.last_counter.find(i);
      if (last != d.last_counter.end() && v < last->second.first) {
        q = Quality::uncertain;
        reason = "counter went backwards from " + last->second.second +
                 " (reset, rollover or meter exchange)";
      }
      d.last_counter[i] = {v, *value};
    }
    submit(d, i, std::move(*value), q, std::move(reason));
  }
};

ModbusGateway::ModbusGateway(boost::asio::io_context& io, ModbusGatewayConfig config,
                             const Config& site, JournalWriter& writer)
    : impl_(std::make_shared<Impl>(io, std::move(config), site, writer)) {}

ModbusGateway::~ModbusGateway() { stop(); }

void ModbusGateway::start() {
  for (size_t i = 0; i < impl_->devices.size(); ++i) impl_->schedule(i);
}

void ModbusGateway::stop() {
  Impl& m = *impl_;
  if (m.stopping) return;
  m.stopping = true;
  for (auto& d : m.devices) d.timer->cancel();
  for (auto& c : m.channels) {
    m.finish(*c);  // every pending completion and deadline goes stale
    c->resolver.cancel();
    m.close_stream(*c);
  }
  m.set_state("stopped");
}

ModbusStatus ModbusGateway::status() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->st;
}

}  // namespace mrv::collector
