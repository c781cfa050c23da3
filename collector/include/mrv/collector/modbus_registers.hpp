#pragma once
// What registers mean: a point's type, byte and word order, scale and offset, decoded
// to exact decimal text; and the plan that reads a device's points in as few requests as
// the protocol allows. Pure functions.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mrv/collector/modbus_frames.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/error.hpp"

namespace mrv::collector::modbus {

using ValueType = ModbusValueType;
// For values of more than one register. A, B, C, D name the bytes from most to least
// significant; the order says how they arrive. ABCD: big-endian words, most significant
// word first (the Modbus convention). CDAB: words swapped (least significant word first).
// BADC: bytes swapped within each word. DCBA: both. For 64-bit values the same rule
// applies to four words.
using WordOrder = ModbusWordOrder;

struct PointRegisters {
  std::string point_id;
  Function function = Function::read_holding_registers;
  uint16_t address = 0;
  ValueType type = ValueType::u16;
  WordOrder order = WordOrder::abcd;
  double scale = 1.0, offset = 0.0;  // value = raw * scale + offset
  uint16_t string_registers = 0;     // type string: how many registers (2 chars each)
};

// Registers (or bits) the point spans.
uint16_t span_of(const PointRegisters& p);

// The value as exact decimal text: integers exactly; floats and scaled values as the
// shortest decimal that reads back as the same double. Strings are returned as text
// (not decimal). Fails on NaN or infinity, naming the point.
[[nodiscard]] Result<std::string> decode_value(const PointRegisters& p,
                                               std::span<const uint16_t> registers);
[[nodiscard]] Result<std::string> decode_bit(const PointRegisters& p, bool bit);

// One request and the points it serves.
struct PlannedRequest {
  Request request;
  std::vector<size_t> points;  // indexes into the points given to plan_requests
};

// Groups the points of one unit by function and merges them into requests no larger
// than the protocol allows, bridging gaps of at most `max_gap` unread registers (bits).
// A point's registers never straddle two requests, so a 32/64-bit counter never tears.
std::vector<PlannedRequest> plan_requests(uint8_t unit, const std::vector<PointRegisters>& points,
                                          uint16_t max_gap);

}  // namespace mrv::collector::modbus
