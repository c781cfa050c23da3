// modbus-read: read every register of one configured device once and print the raw
// registers next to the decoded values, so an operator can check byte and word order
// against the meter's display before deploying. Writes nothing to the journal.
#include <sys/socket.h>

#include <cstdio>
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

// One request over a blocking socket with a receive timeout; the parsed response or why not.
Parsed exchange(tcp::socket& s, const ModbusGatewayConfig& g, const Request& r, uint16_t tid) {
  std::string frame = g.transport == ModbusTransport::tcp ? encode_tcp(r, tid) : encode_rtu(r);
  boost::system::error_code ec;
  boost::asio::write(s, boost::asio::buffer(frame), ec);
  Parsed p;
  if (ec) {
    p.status = Parsed::Status::bad_frame;
    p.error = "write failed: " + ec.message();
    return p;
  }
  std::string rx;
  char buf[512];
  for (;;) {
    size_t n = s.read_some(boost::asio::buffer(buf), ec);
    if (ec) {
      p.status = Parsed::Status::bad_frame;
      p.error = ec == boost::asio::error::would_block || ec == boost::asio::error::try_again
                    ? "timeout after " + std::to_string(g.timeout_ms) + " ms"
                    : "read failed: " + ec.message();
      return p;
    }
    rx.append(buf, n);
    p = g.transport == ModbusTransport::tcp ? parse_tcp(rx, r, tid) : parse_rtu(rx, r);
    if (p.status != Parsed::Status::need_more) return p;
  }
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
      if (!ec) boost::asio::connect(socket, endpoints, ec);
      if (ec) {
        std::cerr << "modbus-read: cannot connect to " << g.host << ":" << g.port << ": " << ec.message() << "\n";
        return kExitFailure;
      }
      timeval tv{g.timeout_ms / 1000, (g.timeout_ms % 1000) * 1000};
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::cout << d.name << " (unit " << int(d.unit) << ") via " << g.name << " " << g.host << ":"
                << g.port << "\n";
      int failures = 0;
      uint16_t tid = 0;
      for (const PlannedRequest& pr : plan_requests(d.unit, points, g.max_gap)) {
        Parsed p = exchange(socket, g, pr.request, ++tid);
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
          socket.close();
          boost::asio::connect(socket, endpoints, ec);
          ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        }
      }
      return failures ? kExitFailure : kExitOk;
    }
  std::cerr << "modbus-read: no device named '" << device_name << "' in " << config_path.string() << "\n";
  return kExitUsage;
}

}  // namespace mrv::agent
