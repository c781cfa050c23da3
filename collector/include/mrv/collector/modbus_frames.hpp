#pragma once
// Modbus request and response frames for function codes 1-4, as Modbus TCP (MBAP header)
// and as RTU (unit id, PDU, CRC-16), over TCP or a serial line. Pure functions: the
// transport (Asio) hands in the bytes it has and gets a response, a need for more
// bytes, or the reason the frame is bad. A malformed or hostile frame is an error
// value, never a crash.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mrv::collector::modbus {

enum class Function : uint8_t {
  read_coils = 1,
  read_discrete_inputs = 2,
  read_holding_registers = 3,
  read_input_registers = 4,
};
bool is_bit_function(Function f);
// Protocol limits per request: 2000 bits (FC 1, 2), 125 registers (FC 3, 4).
uint16_t max_count(Function f);

struct Request {
  uint8_t unit = 1;
  Function function = Function::read_holding_registers;
  uint16_t address = 0;  // zero-based protocol address
  uint16_t count = 1;
};

std::string encode_tcp(const Request& request, uint16_t transaction_id);
std::string encode_rtu(const Request& request);
uint16_t crc16(std::string_view bytes);  // Modbus RTU CRC (poly 0xA001, init 0xFFFF)

struct Response {
  std::vector<uint16_t> registers;  // FC 3, 4
  std::vector<bool> bits;           // FC 1, 2 (exactly `count` of them)
  std::optional<uint8_t> exception;  // an exception response: its code
};

// The outcome of looking at the bytes received so far.
struct Parsed {
  enum class Status { need_more, ok, bad_frame } status = Status::need_more;
  size_t consumed = 0;   // bytes of the buffer this frame used (ok, bad_frame)
  Response response;     // when ok
  std::string error;     // when bad_frame: what is wrong, for the log and the gap record
};

// Parses the response to `request` from the front of `buffer`.
Parsed parse_tcp(std::string_view buffer, const Request& request, uint16_t transaction_id);
Parsed parse_rtu(std::string_view buffer, const Request& request);

// "illegal data address", "server device busy", ...
std::string exception_name(uint8_t code);

}  // namespace mrv::collector::modbus
