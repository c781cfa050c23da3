// Input limits of docs/limits.md that a unit test checks best: each at its value (read)
// and one past it (refused with the documented reason).
#include <string>

#include <catch2/catch.hpp>

#include "connections.hpp"
#include "flat_json.hpp"
#include "mrv/collector/modbus_frames.hpp"
#include "mrv/collector/mqtt_payload.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/core/secret_file.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::collector;

namespace {
constexpr int64_t kNow = 1795600000000;

MessageMapping json_mapping(size_t max_payload_bytes) {
  MessageMapping m;
  m.topic = "site/{meter}/energy";
  m.point = "{meter}.energy_kwh";
  m.format = PayloadFormat::json;
  m.max_payload_bytes = max_payload_bytes;
  return m;
}

auto decode(const MessageMapping& m, std::string_view payload) {
  auto captures = match_topic(m.topic, "site/m1/energy");
  REQUIRE(captures);
  return decode_message(m, *captures, payload, kNow);
}

// {"value":1,"pad":"xxx..."} of exactly `size` bytes.
std::string padded_message(size_t size) {
  std::string head = R"({"value":1,"pad":")", tail = "\"}";
  return head + std::string(size - head.size() - tail.size(), 'x') + tail;
}

// A JSON object nesting `depth` levels whose innermost object holds "value".
std::string nested_value(size_t depth) {
  std::string s;
  for (size_t i = 1; i < depth; ++i) s += "{\"a\":";
  s += "{\"value\":1}";
  s += std::string(depth - 1, '}');
  return s;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s += static_cast<char>(x);
  return s;
}
}  // namespace

TEST_CASE("limits: an MQTT payload of max_payload_bytes is decoded, one byte more is oversized", "[limits][mqtt]") {
  for (size_t limit : {size_t{16}, size_t{64} * 1024, size_t{16} << 20}) {  // the key's minimum, default, maximum
    auto m = json_mapping(limit);
    if (limit >= 32) {
      auto at = decode(m, padded_message(limit));
      REQUIRE(at);
      CHECK((*at)[0].value == "1");
    }
    auto past = decode(m, std::string(limit + 1, ' '));
    REQUIRE_FALSE(past);
    CHECK(past.error().reason == BadInput::oversized);
    CHECK(past.error().detail == std::to_string(limit + 1) + " bytes, limit " + std::to_string(limit));
  }
}

TEST_CASE("limits: an MQTT JSON payload nesting 32 levels is decoded, 33 is invalid_json", "[limits][mqtt]") {
  auto doc = flatten_json(nested_value(32));
  REQUIRE(doc);
  auto deep = flatten_json(nested_value(33));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().message.find("JSON nested deeper than 32 levels") != std::string::npos);
  auto m = json_mapping(64 * 1024);
  std::string pointer;
  for (int i = 1; i < 32; ++i) pointer += "/a";
  m.json.value = pointer + "/value";
  auto at = decode(m, nested_value(32));
  REQUIRE(at);
  CHECK((*at)[0].value == "1");
  m.json.value = pointer + "/a/value";
  auto past = decode(m, nested_value(33));
  REQUIRE_FALSE(past);
  CHECK(past.error().reason == BadInput::invalid_json);
}

TEST_CASE("limits: a Modbus TCP response of 125 registers (MBAP length 253) is read, a length over 254 is a bad frame",
          "[limits][modbus]") {
  using namespace mrv::collector::modbus;
  Request r{1, Function::read_input_registers, 0, 125};  // max_count: 125 registers a request
  CHECK(max_count(Function::read_input_registers) == 125);
  CHECK(max_count(Function::read_coils) == 2000);
  std::string pdu = bytes({0x04, 250}) + std::string(250, '\x11');
  std::string at = bytes({0, 1, 0, 0, 0, 253, 1}) + pdu;
  auto ok = parse_tcp(at, r, 1);
  REQUIRE(ok.status == Parsed::Status::ok);
  CHECK(ok.response.registers.size() == 125);
  CHECK(ok.consumed == at.size());
  // MBAP length 255: refused from the 7-byte header, before any more is buffered.
  auto past = parse_tcp(bytes({0, 1, 0, 0, 0, 255, 1}), r, 1);
  CHECK(past.status == Parsed::Status::bad_frame);
  CHECK(past.error == "MBAP length 255");
  // RTU: a frame's length is its byte count (at most 255 + 5 bytes), known from its third byte.
  std::string body = bytes({0x01, 0x04, 250}) + std::string(250, '\x11');
  uint16_t crc = crc16(body);
  auto rtu = parse_rtu(body + static_cast<char>(crc & 0xFF) + static_cast<char>(crc >> 8), r);
  REQUIRE(rtu.status == Parsed::Status::ok);
  CHECK(rtu.response.registers.size() == 125);
}

TEST_CASE("limits: the body budget (max_body_bytes_total) takes a body of all of it, one byte more waits, then is refused",
          "[limits][registry]") {
  namespace asio = boost::asio;
  using registry::BodyBudget;
  using registry::Clock;
  asio::io_context io;
  BodyBudget budget(1000);
  std::vector<bool> got;
  auto take = [&](size_t bytes, std::chrono::milliseconds wait) -> asio::awaitable<void> {
    got.push_back(co_await budget.acquire(bytes, Clock::now() + wait));
  };
  asio::co_spawn(io, take(1000, std::chrono::milliseconds(0)), asio::detached);
  io.run();
  REQUIRE(got == std::vector<bool>{true});  // at the limit: at once
  CHECK(budget.used() == 1000);
  io.restart();
  auto t0 = Clock::now();
  asio::co_spawn(io, take(1, std::chrono::milliseconds(200)), asio::detached);
  io.run();
  CHECK(got.back() == false);  // past it: refused at its deadline (the session answers 503 busy)
  CHECK(Clock::now() - t0 >= std::chrono::milliseconds(200));
  // A waiting body gets its room when a held one is released.
  io.restart();
  asio::co_spawn(io, take(500, std::chrono::seconds(10)), asio::detached);
  asio::steady_timer later(io, std::chrono::milliseconds(50));
  later.async_wait([&](boost::system::error_code) { budget.release(1000); });
  io.run();
  CHECK(got.back() == true);
  CHECK(budget.used() == 500);
}

TEST_CASE("limits: max_connections: room for one more cuts the connection idle longest, none when all are busy",
          "[limits][registry]") {
  using registry::ConnectionTable;
  ConnectionTable table(2);
  std::vector<std::string> cut;
  auto open = [&](const std::string& peer, bool authenticated) {
    REQUIRE(table.make_room());
    auto h = table.add(peer);
    h->authenticated = authenticated;
    h->cancel = [&cut, peer] { cut.push_back(peer); };
    return h;
  };
  auto a = open("a", true);
  auto b = open("b", true);
  CHECK(cut.empty());  // at the limit: nothing cut
  CHECK(table.make_room());  // past it: the one idle longest goes
  CHECK(cut == std::vector<std::string>{"a"});
  table.remove(a);
  auto c = open("c", false);
  CHECK(table.make_room());  // one never authenticated goes first
  CHECK(cut.back() == "c");
  table.remove(c);
  auto d = open("d", true);
  b->busy = d->busy = true;
  CHECK_FALSE(table.make_room());  // all in a request: the new connection is closed
}

TEST_CASE("limits: a secret file's first line of 64 KiB is read, one byte more is refused", "[limits][config]") {
  test::TempDir dir;
  auto file = dir.path() / "token";
  std::string at(64 * 1024, 't');
  test::write_text(file, at + "\nsecond line never read\n");
  auto read = read_secret_file(file, S_IRWXO);
  REQUIRE(read);
  CHECK(*read == at);
  test::write_text(file, at);  // no line end at all
  CHECK(read_secret_file(file, S_IRWXO).value_or("") == at);
  test::write_text(file, at + "t\n");
  auto past = read_secret_file(file, S_IRWXO);
  REQUIRE_FALSE(past);
  CHECK(past.error().where == file.string());
  CHECK(past.error().message == "its first line is longer than 65536 bytes");
}

TEST_CASE("limits: quarantine_max_rows quarantined messages are kept, one more drops the oldest", "[limits][journal]") {
  test::TempDir dir;
  auto options = test::journal_options(dir);
  options.quarantine_max_rows = 3;
  auto journal = Journal::open_for_writing(options, test::test_signer(dir));
  REQUIRE(journal);
  auto quarantine = [&](int64_t received_ms) {
    QuarantinedMessage q{received_ms, "mqtt:broker", "site/{meter}/energy", "site/m1/energy", "not_numeric",
                         "payload is not a number", "abc"};
    REQUIRE(journal->append({}, std::span<const QuarantinedMessage>(&q, 1)));
  };
  for (int64_t t = 1; t <= 3; ++t) quarantine(t * 1000);
  auto kept = journal->quarantine(0, 10'000, 100);
  REQUIRE(kept);
  CHECK(kept->size() == 3);
  quarantine(4000);
  kept = journal->quarantine(0, 10'000, 100);
  REQUIRE(kept);
  REQUIRE(kept->size() == 3);
  CHECK(kept->front().received_ms == 2000);  // the oldest went
  CHECK(kept->back().received_ms == 4000);
}
