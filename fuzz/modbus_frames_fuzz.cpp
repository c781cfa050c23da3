// Modbus responses (docs/modbus.md) as a gateway or a device sends them: TCP (MBAP) and
// RTU framing, exception responses, byte counts, CRCs, then the registers decoded as
// each value type and word order. The first 6 bytes choose the request; the rest is
// the response. A frame parsed ok holds exactly what was asked for.
#include <array>

#include "fuzz_support.hpp"
#include "mrv/collector/modbus_frames.hpp"
#include "mrv/collector/modbus_registers.hpp"

namespace modbus = mrv::collector::modbus;

namespace {

void decode_all(const modbus::Request& request, const modbus::Response& response, uint8_t variant) {
  modbus::PointRegisters point;
  point.point_id = "fuzz.point";
  point.function = request.function;
  point.type = static_cast<modbus::ValueType>(variant % 10);
  point.order = static_cast<modbus::WordOrder>((variant / 10) % 4);
  point.string_registers = static_cast<uint16_t>(response.registers.size());
  point.scale = (variant & 0x80) ? 0.001 : 1.0;
  if (modbus::is_bit_function(request.function)) {
    for (bool bit : response.bits) (void)modbus::decode_bit(point, bit);
    return;
  }
  if (point.type == modbus::ValueType::boolean) return;
  uint16_t span = modbus::span_of(point);
  if (span == 0 || span > response.registers.size()) return;
  (void)modbus::decode_value(point, std::span<const uint16_t>(response.registers.data(), span));
}

void check(const modbus::Parsed& parsed, const modbus::Request& request, size_t buffer_size) {
  MRV_FUZZ_CHECK(parsed.consumed <= buffer_size);
  if (parsed.status != modbus::Parsed::Status::ok || parsed.response.exception) return;
  if (modbus::is_bit_function(request.function))
    MRV_FUZZ_CHECK(parsed.response.bits.size() == request.count);
  else
    MRV_FUZZ_CHECK(parsed.response.registers.size() == request.count);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  modbus::Request request;
  request.unit = data[0];
  request.function = static_cast<modbus::Function>(1 + data[1] % 4);
  request.address = static_cast<uint16_t>(data[2] << 8 | data[3]);
  request.count = static_cast<uint16_t>(1 + data[4] % modbus::max_count(request.function));
  uint8_t variant = data[5];
  std::string_view buffer = mrv::fuzz::as_text(data + 6, size - 6);
  uint16_t transaction = static_cast<uint16_t>(variant * 257);

  auto tcp = modbus::parse_tcp(buffer, request, transaction);
  check(tcp, request, buffer.size());
  if (tcp.status == modbus::Parsed::Status::ok) decode_all(request, tcp.response, variant);
  auto rtu = modbus::parse_rtu(buffer, request);
  check(rtu, request, buffer.size());
  if (rtu.status == modbus::Parsed::Status::ok) decode_all(request, rtu.response, variant);
  return 0;
}
