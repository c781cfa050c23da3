// modbus-read: read every register of one configured device once and print the raw
// registers next to the decoded values, so an operator can check byte and word order
// against the meter's display before deploying. Writes nothing to the journal.
#include <cstdio>
#include <functional>
#include <iostream>

#include "commands.hpp"
#include "mrv/collector/modbus_frames.hpp"
#include "mrv/collector/modbus_registers.hpp"
#include "mrv/core/asio.hpp"
#include "mrv/core/config.hpp"

namespace mrv::agent {
namespace {
using namespace collector::modbus;
using boost::asio::ip::tcp;

// One request, answered within the gateway's timeout or not: async operations run on
// `io` for at most that long (a blocking read with SO_RCVTIMEO would wait forever in Asio).
Parsed exchange(boost::asio::io_context& io, tcp::socket& s, const ModbusGatewayConfig& g,
                const Request& r, uint16_t tid) {
  std::string frame = g.transport == ModbusTransport::tcp ? encode_tcp(r, tid) : encode_rtu(r);
  Parsed p;
  p.status = Parsed::Status::bad_frame;
  p.error = "timeout after " + std::to_string(g.timeout_ms) + " ms";
  std::string rx;
  char buf[512];
  bool done = false;
  std::function<void()> read_more = [&] {
    s.async_read_some(boost::asio::buffer(buf), [&](const boost::system::error_code& ec, size_t n) {
      if (done) return;
      if (ec) {
        if (ec != boost::asio::error::operation_aborted) p.error = "read failed: " + ec.message();
        done = true;
        return;
      }
      rx.append(buf, n);
      Parsed q = g.transport == ModbusTransport::tcp ? parse_tcp(rx, r, tid) : parse_rtu(rx, r);
      if (q.status == Parsed::Status::need_more) return read_more();
      p = std::move(q);
      done = true;
    });
  };
  boost::asio::async_write(s, boost::asio::buffer(frame), [&](const boost::system::error_code& ec, size_t) {
    if (ec) {
      p.error = "write failed: " + ec.message();
      done = true;
      return;
    }
    read_more();
  });
  io.restart();
  io.run_for(std::chrono::milliseconds(g.timeout_ms));
  if (!done) {  // timed out: abort the pending read and let its handler run
    boost::system::error_code ignored;
    s.cancel(ignored);
    io.restart();
    io.run();
  }
  return p;
}

// Connects within the gateway's timeout.
boost::system::error_code connect(boost::asio::io_context& io, tcp::socket& s,
                                  const tcp::resolver::results_type& endpoints, int timeout_ms) {
  boost::system::error_code result = boost::asio::error::timed_out;
  boost::asio::async_connect(s, endpoints, [&](const boost::system::error_code& ec, const tcp::endpoint&) {
    result = ec;
  });
  io.restart();
  io.run_for(std::chrono::milliseconds(timeout_ms));
  if (result == boost::asio::error::timed_out) {
    boost::system::error_code ignored;
    s.close(ignored);
    io.restart();
    io.run();
    return boost::asio::error::timed_out;
  }
  return result;
}

std::string hex_words(std::span<const uint16_t> words) {
  std::string out = "[";
  char w[8];
  for (size_t i = 0; i < words.size(); ++i) {
    std::snprintf(w, sizeof w, "%s0x%04X", i ? " " : "", words[i]);
    out += w;
  }
  return out + "]";
}

const char* order_name(WordOrder o) {
  return o == WordOrder::abcd ? "ABCD" : o == WordOrder::cdab ? "CDAB" : o == WordOrder::badc ? "BADC" : "DCBA";
}

}  // namespace

int modbus_read(const std::filesystem::path& config_path, const std::string& device_name) {
  auto config = load_config(config_path);
  if (!config) {
    for (const Error& e : config.error()) std::cerr << e.to_string() << "\n";
    return kExitUsage;
  }
  for (const auto& g : config->modbus_gateways)
    for (const auto& d : g.devices) {
      if (d.name != device_name) continue;
      if (g.transport == ModbusTransport::rtu_serial) {
        std::cerr << "modbus-read: serial lines are not available in this version\n";
        return kExitFailure;
      }
      std::vector<PointRegisters> points;
      for (const auto& r : d.registers)
        points.push_back({r.point, static_cast<Function>(r.table), r.address, r.type, r.order,
                          r.scale, r.offset, r.string_registers});
      boost::asio::io_context io;
      tcp::socket socket(io);
      boost::system::error_code ec;
      tcp::resolver resolver(io);
      auto endpoints = resolver.resolve(g.host, std::to_string(g.port), ec);
      if (!ec) ec = connect(io, socket, endpoints, g.timeout_ms);
      if (ec) {
        std::cerr << "modbus-read: cannot connect to " << g.host << ":" << g.port << ": " << ec.message() << "\n";
        return kExitFailure;
      }
      std::cout << d.name << " (unit " << int(d.unit) << ") via " << g.name << " " << g.host << ":"
                << g.port << "\n";
      int failures = 0;
      uint16_t tid = 0;
      for (const PlannedRequest& pr : plan_requests(d.unit, points, g.max_gap)) {
        Parsed p = exchange(io, socket, g, pr.request, ++tid);
        for (size_t i : pr.points) {
          const PointRegisters& pt = points[i];
          size_t off = pt.address - pr.request.address;
          std::cout << "  " << pt.point_id << "  " << (is_bit_function(pt.function) ? "bit " : "reg ")
                    << pt.address << "  ";
          if (p.status != Parsed::Status::ok) {
            std::cout << p.error << "\n";
            ++failures;
          } else if (p.response.exception) {
            std::cout << "exception: " << exception_name(*p.response.exception) << "\n";
            ++failures;
          } else if (is_bit_function(pt.function)) {
            std::cout << "[" << p.response.bits.at(off) << "]  = " << *decode_bit(pt, p.response.bits.at(off)) << "\n";
          } else {
            auto regs = std::span<const uint16_t>(p.response.registers).subspan(off, span_of(pt));
            auto v = decode_value(pt, regs);
            std::cout << hex_words(regs) << "  " << order_name(pt.order) << "  = "
                      << (v ? *v : "error: " + v.error().message) << "\n";
            failures += v ? 0 : 1;
          }
        }
        if (p.status != Parsed::Status::ok) {  // the stream may be out of step: reconnect
          boost::system::error_code ignored;
          socket.close(ignored);
          socket = tcp::socket(io);
          connect(io, socket, endpoints, g.timeout_ms);
        }
      }
      return failures ? kExitFailure : kExitOk;
    }
  std::cerr << "modbus-read: no device named '" << device_name << "' in " << config_path.string() << "\n";
  return kExitUsage;
}

}  // namespace mrv::agent
