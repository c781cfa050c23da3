#include "mrv/collector/modbus_frames.hpp"

namespace mrv::collector::modbus {
namespace {

void put_u16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xFF);
}

uint16_t get_u16(std::string_view b, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(b[at]) << 8 | static_cast<uint8_t>(b[at + 1]));
}

uint8_t byte(std::string_view b, size_t at) { return static_cast<uint8_t>(b[at]); }

std::string pdu(const Request& r) {
  std::string p;
  p += static_cast<char>(r.function);
  put_u16(p, r.address);
  put_u16(p, r.count);
  return p;
}

Parsed bad(size_t consumed, std::string why) {
  Parsed p;
  p.status = Parsed::Status::bad_frame;
  p.consumed = consumed;
  p.error = std::move(why);
  return p;
}

// The size of the response PDU to `r` that starts `pdu` (function byte first), or 0
// when more bytes are needed to know it.
size_t expected_pdu_size(std::string_view pdu) {
  if (pdu.size() < 2) return 0;
  if (byte(pdu, 0) & 0x80) return 2;  // function | 0x80, exception code
  return 2 + byte(pdu, 1);            // function, byte count, data
}

// Checks a complete response PDU against the request and decodes it.
Parsed decode_pdu(std::string_view pdu, const Request& r, size_t consumed) {
  uint8_t function = byte(pdu, 0);
  if (function == (static_cast<uint8_t>(r.function) | 0x80)) {
    Parsed p;
    p.status = Parsed::Status::ok;
    p.consumed = consumed;
    p.response.exception = byte(pdu, 1);
    return p;
  }
  if (function != static_cast<uint8_t>(r.function))
    return bad(consumed, "function " + std::to_string(function) + " in the response to function " +
                             std::to_string(static_cast<int>(r.function)));
  size_t byte_count = byte(pdu, 1);
  size_t want = is_bit_function(r.function) ? (r.count + 7u) / 8u : 2u * r.count;
  if (byte_count != want)
    return bad(consumed, "byte count " + std::to_string(byte_count) + ", expected " + std::to_string(want));
  Parsed p;
  p.status = Parsed::Status::ok;
  p.consumed = consumed;
  if (is_bit_function(r.function)) {
    for (size_t i = 0; i < r.count; ++i) p.response.bits.push_back(byte(pdu, 2 + i / 8) >> (i % 8) & 1);
  } else {
    for (size_t i = 0; i < r.count; ++i) p.response.registers.push_back(get_u16(pdu, 2 + 2 * i));
  }
  return p;
}

}  // namespace

bool is_bit_function(Function f) {
  return f == Function::read_coils || f == Function::read_discrete_inputs;
}

uint16_t max_count(Function f) { return is_bit_function(f) ? 2000 : 125; }

uint16_t crc16(std::string_view bytes) {
  uint16_t crc = 0xFFFF;
  for (char c : bytes) {
    crc ^= static_cast<uint8_t>(c);
    for (int i = 0; i < 8; ++i) crc = (crc & 1) ? (crc >> 1) ^ 0xA001 : crc >> 1;
  }
  return crc;
}

std::string encode_tcp(const Request& r, uint16_t transaction_id) {
  std::string out;
  put_u16(out, transaction_id);
  put_u16(out, 0);  // protocol id
  put_u16(out, 6);  // unit id + 5-byte PDU
  out += static_cast<char>(r.unit);
  out += pdu(r);
  return out;
}

std::string encode_rtu(const Request& r) {
  std::string out;
  out += static_cast<char>(r.unit);
  out += pdu(r);
  uint16_t crc = crc16(out);
  out += static_cast<char>(crc & 0xFF);  // CRC is sent low byte first
  out += static_cast<char>(crc >> 8);
  return out;
}

Parsed parse_tcp(std::string_view b, const Request& r, uint16_t transaction_id) {
  if (b.size() < 7) return {};
  uint16_t length = get_u16(b, 4);
  if (get_u16(b, 2) != 0) return bad(b.size(), "protocol id " + std::to_string(get_u16(b, 2)) + ", not Modbus");
  if (length < 3 || length > 254) return bad(b.size(), "MBAP length " + std::to_string(length));
  size_t total = 6 + length;
  if (b.size() < total) return {};
  if (get_u16(b, 0) != transaction_id)
    return bad(total, "transaction id " + std::to_string(get_u16(b, 0)) + ", expected " +
                          std::to_string(transaction_id));
  if (byte(b, 6) != r.unit)
    return bad(total, "unit id " + std::to_string(byte(b, 6)) + ", expected " + std::to_string(r.unit));
  std::string_view pdu = b.substr(7, length - 1);
  size_t want = expected_pdu_size(pdu);
  if (want == 0 || want != pdu.size())
    return bad(total, "PDU of " + std::to_string(pdu.size()) + " bytes does not match its byte count");
  return decode_pdu(pdu, r, total);
}

Parsed parse_rtu(std::string_view b, const Request& r) {
  if (b.size() < 3) return {};
  size_t want = expected_pdu_size(b.substr(1));
  if (want == 0) return {};
  size_t total = 1 + want + 2;
  if (b.size() < total) return {};
  std::string_view frame = b.substr(0, total);
  uint16_t crc = static_cast<uint16_t>(byte(frame, total - 2) | byte(frame, total - 1) << 8);
  if (crc16(frame.substr(0, total - 2)) != crc) return bad(total, "CRC mismatch");
  if (byte(frame, 0) != r.unit)
    return bad(total, "unit id " + std::to_string(byte(frame, 0)) + ", expected " + std::to_string(r.unit));
  return decode_pdu(frame.substr(1, want), r, total);
}

std::string exception_name(uint8_t code) {
  switch (code) {
    case 1: return "illegal function";
    case 2: return "illegal data address";
    case 3: return "illegal data value";
    case 4: return "server device failure";
    case 5: return "acknowledge";
    case 6: return "server device busy";
    case 8: return "memory parity error";
    case 10: return "gateway path unavailable";
    case 11: return "gateway target device failed to respond";
  }
  return "exception " + std::to_string(code);
}

}  // namespace mrv::collector::modbus
