#include <bit>
#include <random>

#include <catch2/catch.hpp>

#include "mrv/collector/modbus_frames.hpp"
#include "mrv/collector/modbus_registers.hpp"

using namespace mrv::collector::modbus;

namespace {
std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}

PointRegisters point(ValueType type, WordOrder order = WordOrder::abcd, uint16_t address = 0) {
  PointRegisters p;
  p.point_id = "p";
  p.type = type;
  p.order = order;
  p.address = address;
  return p;
}

std::string decode(const PointRegisters& p, std::vector<uint16_t> regs) {
  auto v = decode_value(p, regs);
  REQUIRE(v);
  return *v;
}
}  // namespace

TEST_CASE("modbus frames: requests encode as TCP and RTU, with the standard CRC", "[modbus]") {
  Request r{1, Function::read_holding_registers, 0, 10};
  CHECK(encode_rtu(r) == bytes({0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD}));
  CHECK(encode_tcp(r, 0x1234) ==
        bytes({0x12, 0x34, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A}));
}

TEST_CASE("modbus frames: a TCP response is parsed once complete, and checked", "[modbus]") {
  Request r{3, Function::read_holding_registers, 100, 2};
  std::string ok = bytes({0x00, 0x07, 0x00, 0x00, 0x00, 0x07, 0x03, 0x03, 0x04, 0x12, 0x34, 0xAB, 0xCD});
  for (size_t cut = 0; cut < ok.size(); ++cut)
    CHECK(parse_tcp(ok.substr(0, cut), r, 7).status == Parsed::Status::need_more);
  auto p = parse_tcp(ok + "trailing", r, 7);
  REQUIRE(p.status == Parsed::Status::ok);
  CHECK(p.consumed == ok.size());
  CHECK(p.response.registers == std::vector<uint16_t>{0x1234, 0xABCD});

  auto exception = parse_tcp(bytes({0, 7, 0, 0, 0, 3, 3, 0x83, 0x02}), r, 7);
  REQUIRE(exception.status == Parsed::Status::ok);
  CHECK(*exception.response.exception == 2);
  CHECK(exception_name(2) == "illegal data address");

  CHECK(parse_tcp(ok, r, 8).error == "transaction id 7, expected 8");
  std::string other_unit = ok;
  other_unit[6] = 9;
  CHECK(parse_tcp(other_unit, r, 7).error == "unit id 9, expected 3");
  std::string short_count = ok;
  short_count[8] = 2;
  CHECK(parse_tcp(short_count, r, 7).status == Parsed::Status::bad_frame);
  CHECK(parse_tcp(bytes({0, 7, 0, 1, 0, 7, 3}), r, 7).error == "protocol id 1, not Modbus");
}

TEST_CASE("modbus frames: an RTU response is checked by its CRC", "[modbus]") {
  Request coils{5, Function::read_coils, 0, 10};
  std::string body = bytes({0x05, 0x01, 0x02, 0b10100101, 0b00000010});
  uint16_t crc = crc16(body);
  std::string frame = body + static_cast<char>(crc & 0xFF) + static_cast<char>(crc >> 8);
  auto p = parse_rtu(frame, coils);
  REQUIRE(p.status == Parsed::Status::ok);
  CHECK(p.response.bits ==
        std::vector<bool>{true, false, true, false, false, true, false, true, false, true});
  frame[3] ^= 0x01;
  CHECK(parse_rtu(frame, coils).error == "CRC mismatch");
}

TEST_CASE("modbus frames: truncated, corrupted and random frames never crash", "[modbus]") {
  std::mt19937 rng(4);
  Request r{1, Function::read_input_registers, 0, 125};
  std::string body = bytes({0x01, 0x04, 250});
  body += std::string(250, '\x11');
  uint16_t crc = crc16(body);
  std::string rtu = body + static_cast<char>(crc & 0xFF) + static_cast<char>(crc >> 8);
  std::string tcp = bytes({0, 1, 0, 0, 0, 253}) + body;
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string f = (i % 2 ? rtu : tcp).substr(0, rng() % 300);
    for (int k = rng() % 4; k > 0 && !f.empty(); --k) f[rng() % f.size()] = static_cast<char>(rng());
    Parsed p = i % 2 ? parse_rtu(f, r) : parse_tcp(f, r, 1);
    CHECK(p.consumed <= f.size());
    if (p.status == Parsed::Status::ok && !p.response.exception) {
      CHECK(p.response.registers.size() == 125);
      ++ok;
    }
  }
  CHECK(ok > 0);
}

TEST_CASE("modbus values: every type in every byte and word order", "[modbus]") {
  // 0x11223344 in wire order for ABCD, CDAB, BADC, DCBA
  CHECK(decode(point(ValueType::u32, WordOrder::abcd), {0x1122, 0x3344}) == "287454020");
  CHECK(decode(point(ValueType::u32, WordOrder::cdab), {0x3344, 0x1122}) == "287454020");
  CHECK(decode(point(ValueType::u32, WordOrder::badc), {0x2211, 0x4433}) == "287454020");
  CHECK(decode(point(ValueType::u32, WordOrder::dcba), {0x4433, 0x2211}) == "287454020");
  CHECK(decode(point(ValueType::i16), {0xFFFF}) == "-1");
  CHECK(decode(point(ValueType::u16), {0xFFFF}) == "65535");
  CHECK(decode(point(ValueType::i32), {0xFFFF, 0xFFFE}) == "-2");
  CHECK(decode(point(ValueType::u64), {0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF}) == "18446744073709551615");
  CHECK(decode(point(ValueType::i64, WordOrder::cdab), {0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF}) == "-2");
  uint32_t f = std::bit_cast<uint32_t>(230.1f);
  CHECK(decode(point(ValueType::f32), {uint16_t(f >> 16), uint16_t(f)}) == "230.1");
  CHECK(decode(point(ValueType::f32, WordOrder::cdab), {uint16_t(f), uint16_t(f >> 16)}) == "230.1");
  uint64_t d = std::bit_cast<uint64_t>(1234.5678);
  CHECK(decode(point(ValueType::f64), {uint16_t(d >> 48), uint16_t(d >> 32), uint16_t(d >> 16), uint16_t(d)}) ==
        "1234.5678");
  auto scaled = point(ValueType::u32);
  scaled.scale = 0.01;
  CHECK(decode(scaled, {0x0001, 0xE240}) == "1234.56");  // 123456 x 0.01
  auto str = point(ValueType::string);
  str.string_registers = 3;
  CHECK(decode(str, {0x4142, 0x4344, 0x2000}) == "ABCD");
  uint32_t nan = std::bit_cast<uint32_t>(std::numeric_limits<float>::quiet_NaN());
  CHECK_FALSE(decode_value(point(ValueType::f32), std::vector<uint16_t>{uint16_t(nan >> 16), uint16_t(nan)}));
  CHECK_FALSE(decode_value(point(ValueType::u32), std::vector<uint16_t>{1}));
}

TEST_CASE("modbus plan: nearby registers merge, limits split, values never tear", "[modbus]") {
  std::vector<PointRegisters> pts{point(ValueType::u32, WordOrder::abcd, 0), point(ValueType::f32, WordOrder::abcd, 2),
                                  point(ValueType::u16, WordOrder::abcd, 7), point(ValueType::u64, WordOrder::abcd, 120),
                                  point(ValueType::u16, WordOrder::abcd, 500)};
  pts.push_back(point(ValueType::boolean, WordOrder::abcd, 3));
  pts.back().function = Function::read_coils;
  auto plan = plan_requests(4, pts, 3);
  REQUIRE(plan.size() == 4);
  CHECK(plan[0].request.function == Function::read_coils);
  CHECK(plan[1].request.address == 0);
  CHECK(plan[1].request.count == 8);  // 0..7, bridging the 3-register gap 4..6
  CHECK(plan[1].points.size() == 3);
  CHECK(plan[2].request.address == 120);
  CHECK(plan[2].request.count == 4);  // the counter's four registers in one request
  CHECK(plan[3].request.address == 500);
  auto tight = plan_requests(4, pts, 0);
  CHECK(tight.size() == 5);  // no gap bridged: 0..3 | 7 | 120..123 | 500, plus the coil
  std::vector<PointRegisters> many;
  for (uint16_t a = 0; a < 300; ++a) many.push_back(point(ValueType::u16, WordOrder::abcd, a));
  auto split = plan_requests(1, many, 0);
  REQUIRE(split.size() == 3);
  CHECK(split[0].request.count == 125);
  CHECK(split[2].request.count == 50);
}
