// Record lines: the fast path for the agent's own layout and the JSON fallback agree.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <random>

#include "mrv/core/canonical.hpp"
#include "mrv/core/record_line.hpp"

using namespace mrv;

TEST_CASE("record lines: fast path and JSON fallback read the same thing", "[bundle]") {
  std::string canonical = "{\"v\":1,\"unit\":\"m\xC2\xB3/h a\\\"b\\\\c\x09\",\"x\":\"\x01\"}";
  std::string agent_line = "{\"seq\":42,\"record\":";
  mrv::append_json_string(agent_line, canonical);
  agent_line += ",\"hash\":\"ab\",\"signature\":\"c2ln\"}";
  auto fast = parse_record_line(agent_line);
  REQUIRE(fast);
  CHECK(fast->seq == 42);
  CHECK(fast->record == canonical);
  CHECK(fast->hash_hex == "ab");
  CHECK(fast->signature_b64 == "c2ln");
  // Other valid JSON for the same line: escapes the agent never writes, whitespace, order.
  for (std::string other : {
           std::string("{\"seq\": 42, \"record\": \"{\\\"v\\\":1,\\\"unit\\\":\\\"m\\u00b3\\/h a\\\\\\\"b\\\\\\\\c\\t\\\",\\\"x\\\":\\\"\\u0001\\\"}\", \"hash\": \"ab\", \"signature\": \"c2ln\"}"),
           std::string("{\"signature\":\"c2ln\",\"hash\":\"ab\",\"record\":") + agent_line.substr(agent_line.find(":", 10) + 1, agent_line.find(",\"hash\"") - agent_line.find(":", 10) - 1) + ",\"seq\":42}",
       }) {
    auto slow = parse_record_line(other);
    REQUIRE(slow);
    CHECK(slow->seq == 42);
    CHECK(slow->record == canonical);
    CHECK(slow->signature_b64 == "c2ln");
  }
  for (std::string bad : {"", "{}", "{\"seq\":-1,\"record\":\"\",\"hash\":\"\",\"signature\":\"\"}",
                          "{\"seq\":01,\"record\":\"\",\"hash\":\"\",\"signature\":\"\"}",
                          "{\"seq\":1,\"record\":\"\\u00", "[1,2]", "{\"seq\":1,\"record\":5,\"hash\":\"\",\"signature\":\"\"}"})
    CHECK_FALSE(parse_record_line(bad));
}

TEST_CASE("record line: deep nesting or a flood of values is not a record line, and builds no tree", "[record_line]") {
  std::string deep = "{\"seq\":1,\"x\":" + std::string(200'000, '[') + std::string(200'000, ']') + "}";
  CHECK_FALSE(parse_record_line(deep));
  std::string flood = "{\"seq\":1,\"x\":[0";
  for (int i = 0; i < 2'000'000; ++i) flood += ",0";
  flood += "]}";
  CHECK_FALSE(parse_record_line(flood));
  // An extension member of a few values still parses.
  CHECK(parse_record_line(R"({"signature":"","hash":"00","record":"{}","seq":7,"ext":{"a":[1,2]}})"));
}

TEST_CASE("record lines: any text written by append_json_string reads back the same, by the fast path and by JSON", "[record_line]") {
  std::mt19937 rng(7);
  const std::vector<std::string> pieces = {"a", "b", "\"", "\\", std::string(1, '\0'), "\x01", "\x1f", " ", "\x7f",
                                           "{", "}", ":", ",", "u", "0", "\xc3\xa9", "\\u00"};
  for (int n = 0; n < 2000; ++n) {
    std::string text;
    for (size_t k = rng() % 40; k > 0; --k) text += pieces[rng() % pieces.size()];
    const std::string head = "{\"seq\":1,\"record\":";
    std::string line = head;
    append_json_string(line, text);
    CHECK(nlohmann::json::parse(line.substr(head.size())).get<std::string>() == text);
    line += ",\"hash\":\"ab\",\"signature\":\"c2ln\"}";
    auto read = parse_record_line(line);
    REQUIRE(read);
    CHECK(read->record == text);
    // A line cut short is no line.
    CHECK_FALSE(parse_record_line(line.substr(0, rng() % line.size())));
  }
}
