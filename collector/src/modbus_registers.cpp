#include "mrv/collector/modbus_registers.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <map>

namespace mrv::collector::modbus {
namespace {

// The value's bytes, most significant first, from its registers in wire order.
uint64_t assemble(std::span<const uint16_t> regs, WordOrder order) {
  size_t n = regs.size();
  bool swap_words = order == WordOrder::cdab || order == WordOrder::dcba;
  bool swap_bytes = order == WordOrder::badc || order == WordOrder::dcba;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    uint16_t w = regs[swap_words ? n - 1 - i : i];
    if (swap_bytes) w = static_cast<uint16_t>(w << 8 | w >> 8);
    v = v << 16 | w;
  }
  return v;
}

template <typename T>
std::string exact(T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

uint16_t span_of(const PointRegisters& p) {
  switch (p.type) {
    case ValueType::boolean:
    case ValueType::u16:
    case ValueType::i16: return 1;
    case ValueType::u32:
    case ValueType::i32:
    case ValueType::f32: return 2;
    case ValueType::u64:
    case ValueType::i64:
    case ValueType::f64: return 4;
    case ValueType::string: return p.string_registers;
  }
  return 1;
}

Result<std::string> decode_value(const PointRegisters& p, std::span<const uint16_t> regs) {
  if (regs.size() != span_of(p))
    return fail(ErrorCode::invalid_argument, p.point_id,
                std::to_string(regs.size()) + " registers for a value of " + std::to_string(span_of(p)));
  if (p.type == ValueType::string) {
    std::string s;
    for (uint16_t w : regs) {
      if (p.order == WordOrder::badc || p.order == WordOrder::dcba) w = static_cast<uint16_t>(w << 8 | w >> 8);
      for (char c : {static_cast<char>(w >> 8), static_cast<char>(w & 0xFF)})
        if (c != '\0') s += c;
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
  }
  uint64_t raw = assemble(regs, p.order);
  bool unscaled = p.scale == 1.0 && p.offset == 0.0;
  double value = 0;
  switch (p.type) {
    case ValueType::boolean:
    case ValueType::u16:
    case ValueType::u32:
    case ValueType::u64:
      if (unscaled) return exact(raw);
      value = static_cast<double>(raw);
      break;
    case ValueType::i16:
    case ValueType::i32:
    case ValueType::i64: {
      int bits = 16 * static_cast<int>(regs.size());
      int64_t s = bits == 64 ? static_cast<int64_t>(raw)
                             : static_cast<int64_t>(raw << (64 - bits)) >> (64 - bits);  // sign-extend
      if (unscaled) return exact(s);
      value = static_cast<double>(s);
      break;
    }
    case ValueType::f32: {
      float f = std::bit_cast<float>(static_cast<uint32_t>(raw));
      if (!std::isfinite(f)) return fail(ErrorCode::invalid_argument, p.point_id, "register value is not finite");
      if (unscaled) return exact(f);  // shortest text of the float itself: "230.1", not 230.100006
      value = static_cast<double>(f);
      break;
    }
    case ValueType::f64:
      value = std::bit_cast<double>(raw);
      break;
    case ValueType::string: break;
  }
  value = value * p.scale + p.offset;
  if (!std::isfinite(value)) return fail(ErrorCode::invalid_argument, p.point_id, "register value is not finite");
  return exact(value);
}

Result<std::string> decode_bit(const PointRegisters& p, bool bit) {
  if (p.scale == 1.0 && p.offset == 0.0) return std::string(bit ? "1" : "0");
  return exact((bit ? 1.0 : 0.0) * p.scale + p.offset);
}

std::vector<PlannedRequest> plan_requests(uint8_t unit, const std::vector<PointRegisters>& points,
                                          uint16_t max_gap) {
  std::map<Function, std::vector<size_t>> by_function;
  for (size_t i = 0; i < points.size(); ++i) by_function[points[i].function].push_back(i);
  std::vector<PlannedRequest> plan;
  for (auto& [function, idx] : by_function) {
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
      return points[a].address < points[b].address;
    });
    uint32_t limit = max_count(function);
    PlannedRequest current;
    uint32_t end = 0;  // one past the last register the current request reads
    for (size_t i : idx) {
      uint32_t start = points[i].address, stop = start + span_of(points[i]);
      bool fits = !current.points.empty() && start <= end + max_gap &&
                  std::max(stop, end) - current.request.address <= limit;
      if (!fits) {
        if (!current.points.empty()) plan.push_back(std::move(current));
        current = PlannedRequest{Request{unit, function, static_cast<uint16_t>(start), 0}, {}};
        end = start;
      }
      current.points.push_back(i);
      end = std::max(end, stop);
      current.request.count = static_cast<uint16_t>(end - current.request.address);
    }
    if (!current.points.empty()) plan.push_back(std::move(current));
  }
  return plan;
}

}  // namespace mrv::collector::modbus
