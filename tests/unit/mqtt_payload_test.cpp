#include <random>

#include <catch2/catch.hpp>

#include "flat_json.hpp"
#include "mrv/collector/mqtt_payload.hpp"

using namespace mrv;
using namespace mrv::collector;

namespace {
constexpr int64_t kNow = 1795600000000;

MessageMapping mapping(PayloadFormat format, std::string point = "{meter}.energy_kwh") {
  MessageMapping m;
  m.topic = "site/{meter}/energy";
  m.point = std::move(point);
  m.format = format;
  return m;
}

auto decode(const MessageMapping& m, std::string_view payload, std::string topic = "site/m1/energy") {
  auto captures = match_topic(m.topic, topic);
  REQUIRE(captures);
  return decode_message(m, *captures, payload, kNow);
}

BadInput reason_of(const MessageMapping& m, std::string_view payload) {
  auto r = decode(m, payload);
  REQUIRE_FALSE(r);
  return r.error().reason;
}
}  // namespace

TEST_CASE("mqtt topics: filters match as MQTT defines them", "[mqtt]") {
  CHECK(topic_matches("site/+/energy", "site/m1/energy"));
  CHECK_FALSE(topic_matches("site/+/energy", "site/m1/power"));
  CHECK_FALSE(topic_matches("site/+/energy", "site/m1/energy/x"));
  CHECK(topic_matches("site/#", "site/m1/energy"));
  CHECK(topic_matches("site/#", "site"));
  CHECK(topic_matches("#", "a/b/c"));
  CHECK_FALSE(topic_matches("#", "$SYS/broker/load"));
  CHECK_FALSE(topic_matches("+/broker/load", "$SYS/broker/load"));
  CHECK(topic_matches("$SYS/broker/load", "$SYS/broker/load"));
  CHECK(topic_matches("a//b", "a//b"));
  CHECK_FALSE(topic_matches("a/+", "a"));
}

TEST_CASE("mqtt topics: {name} levels subscribe as + and build the point id", "[mqtt]") {
  CHECK(mqtt_filter("site/{meter}/energy") == "site/+/energy");
  CHECK(mqtt_filter("plant/{line}/{meter}/#") == "plant/+/+/#");
  auto c = match_topic("plant/{line}/{meter}/#", "plant/L2/m7/energy/total");
  REQUIRE(c);
  CHECK(*expand_point("{line}.{meter}.kwh", *c) == "L2.m7.kwh");
  CHECK_FALSE(expand_point("{nope}.kwh", *c));
  CHECK_FALSE(match_topic("site/{meter}/energy", "other/m1/energy"));
}

TEST_CASE("mqtt payload: a bare number keeps its exact text", "[mqtt]") {
  auto r = decode(mapping(PayloadFormat::number), " 1234.500\r\n");
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  CHECK((*r)[0].point_id == "m1.energy_kwh");
  CHECK((*r)[0].value == "1234.500");
  CHECK_FALSE((*r)[0].ts_ms);  // the agent's clock will stamp it
}

TEST_CASE("mqtt payload: each kind of bad input has its own reason", "[mqtt]") {
  auto number = mapping(PayloadFormat::number);
  CHECK(reason_of(number, "abc") == BadInput::not_numeric);
  CHECK(reason_of(number, "12,5") == BadInput::not_numeric);
  CHECK(reason_of(number, "NaN") == BadInput::not_finite);
  CHECK(reason_of(number, "-Infinity") == BadInput::not_finite);
  CHECK(reason_of(number, "1e999") == BadInput::not_finite);
  CHECK(reason_of(number, "") == BadInput::missing_field);
  CHECK(reason_of(number, std::string("\x00\xff\x13", 3)) == BadInput::binary);
  CHECK(reason_of(number, "\xc3\x28") == BadInput::binary);
  number.max_payload_bytes = 4;
  CHECK(reason_of(number, "12345") == BadInput::oversized);
  auto json = mapping(PayloadFormat::json);
  CHECK(reason_of(json, "{\"value\":") == BadInput::invalid_json);
  CHECK(reason_of(json, "{\"valu\":1}") == BadInput::missing_field);
  CHECK(reason_of(json, "{\"value\":null}") == BadInput::missing_field);
  CHECK(reason_of(json, "{\"value\":true}") == BadInput::not_numeric);
  CHECK(reason_of(json, "{\"value\":\"nan\"}") == BadInput::not_finite);
  CHECK(reason_of(json, std::string(1000, '[') + std::string(1000, ']')) == BadInput::invalid_json);
  json.json.timestamp = "/ts";
  CHECK(reason_of(json, "{\"value\":1,\"ts\":\"yesterday\"}") == BadInput::bad_timestamp);
  auto unmapped = mapping(PayloadFormat::number, "{line}.kwh");
  CHECK(reason_of(unmapped, "1") == BadInput::unmapped);
}

TEST_CASE("mqtt payload: JSON fields by JSON Pointer, numbers as written", "[mqtt]") {
  auto m = mapping(PayloadFormat::json);
  m.json = {"/data/e", "/data/t", "/data/u", "/st"};
  auto r = decode(m, R"({"data":{"e":1234.500,"t":1767225600.25,"u":"kWh"},"st":"substitute"})");
  REQUIRE(r);
  const DecodedReading& d = (*r)[0];
  CHECK(d.value == "1234.500");
  CHECK(d.unit == "kWh");
  CHECK(*d.ts_ms == 1767225600250);
  CHECK(d.quality == Quality::substitute);

  m.json = {"/value", "/ts", "", "/status"};
  r = decode(m, R"({"value":"0.001","ts":"2026-01-01T09:00:00+09:00","status":"E42"})");
  REQUIRE(r);
  CHECK((*r)[0].value == "0.001");
  CHECK(*(*r)[0].ts_ms == 1767225600000);
  CHECK((*r)[0].quality == Quality::uncertain);
  CHECK((*r)[0].reason == "device status: E42");
  r = decode(m, R"({"value":7,"ts":1767225600123})");
  CHECK(*(*r)[0].ts_ms == 1767225600123);  // epoch ms, told apart from seconds
  m.timestamp_format = TimestampFormat::epoch_s;
  r = decode(m, R"({"value":7,"ts":1767225600})");
  CHECK(*(*r)[0].ts_ms == 1767225600000);
}

TEST_CASE("mqtt payload: a JSON array carries several readings", "[mqtt]") {
  auto m = mapping(PayloadFormat::json);
  m.json.timestamp = "/t";
  auto r = decode(m, R"([{"value":1.10,"t":1767225600},{"value":1.20,"t":1767225660}])");
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].value == "1.10");
  CHECK((*r)[1].value == "1.20");
  CHECK(*(*r)[1].ts_ms == 1767225660000);
  CHECK(reason_of(m, R"([{"value":1},{"value":"x"}])") == BadInput::not_numeric);  // whole or nothing
}

TEST_CASE("mqtt payload: SenML packs resolve base name, unit and time", "[mqtt]") {
  auto m = mapping(PayloadFormat::senml, "{meter}.{n}");
  auto r = decode(m, R"([{"bn":"pv/","bt":1767225600,"bu":"kWh","n":"export","v":1234.567},
                         {"n":"power","u":"kW","v":12.50,"t":1.5},
                         {"n":"temp","u":"Cel","v":-3e1,"t":-5}])");
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  CHECK((*r)[0].point_id == "m1.pv/export");
  CHECK((*r)[0].value == "1234.567");
  CHECK((*r)[0].unit == "kWh");
  CHECK(*(*r)[0].ts_ms == 1767225600000);
  CHECK((*r)[1].unit == "kW");
  CHECK((*r)[1].value == "12.50");
  CHECK(*(*r)[1].ts_ms == 1767225601500);
  CHECK((*r)[2].value == "-3e1");
  CHECK(*(*r)[2].ts_ms == 1767225595000);

  auto rel = decode(m, R"([{"n":"e","v":1,"t":-60}])");
  REQUIRE(rel);
  CHECK(*(*rel)[0].ts_ms == kNow - 60'000);  // below 2^28 s: relative to now
  auto untimed = decode(m, R"([{"n":"e","v":1}])");
  CHECK_FALSE((*untimed)[0].ts_ms);

  CHECK(reason_of(m, R"({"n":"e","v":1})") == BadInput::invalid_json);
  CHECK(reason_of(m, R"([{"n":"e","vs":"on"}])") == BadInput::not_numeric);
  CHECK(reason_of(m, R"([{"n":"e"}])") == BadInput::missing_field);
  CHECK(reason_of(m, R"([{"v":1}])") == BadInput::missing_field);
  CHECK(reason_of(m, R"([{"n":"e","bv":10,"v":1}])") == BadInput::not_numeric);
  CHECK(reason_of(m, R"([{"n":"e","v":1,"t":"now"}])") == BadInput::bad_timestamp);
  CHECK(reason_of(m, R"([1,2])") == BadInput::invalid_json);
}

TEST_CASE("mqtt payload: mutated and random payloads never crash the decoder", "[mqtt]") {
  std::mt19937 rng(20261125);
  const std::string seeds[] = {
      R"([{"bn":"pv/","bt":1767225600,"bu":"kWh","n":"export","v":1234.567},{"n":"p","v":1,"t":1}])",
      R"({"data":{"e":1234.500,"t":1767225600.25,"u":"kWh"},"st":"good"})", "1234.5"};
  MessageMapping formats[] = {mapping(PayloadFormat::senml, "{meter}.{n}"), mapping(PayloadFormat::json),
                              mapping(PayloadFormat::number)};
  formats[1].json = {"/data/e", "/data/t", "/data/u", "/st"};
  auto captures = *match_topic("site/{meter}/energy", "site/m1/energy");
  int decoded = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string p = seeds[i % 3];
    for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k) {
      size_t at = rng() % (p.size() + 1);
      switch (rng() % 3) {
        case 0: p.insert(at, 1, static_cast<char>(rng() % 256)); break;
        case 1: if (at < p.size()) p.erase(at, 1); break;
        default: if (at < p.size()) p[at] = "{}[]\",:0.-eE/ \\"[rng() % 16]; break;
      }
    }
    auto r = decode_message(formats[i % 3], captures, p, kNow);
    if (r) {
      ++decoded;
      for (const auto& d : *r) CHECK(is_decimal_text(d.value));
    }
  }
  CHECK(decoded > 0);
}

namespace {
// A JSON array of `count` objects like {"v":7,"t":1795600000,"u":"kWh"}: 160 KB for 20,001.
std::string big_array(size_t count) {
  std::string s = "[";
  for (size_t i = 0; i < count; ++i)
    s += (i ? "," : "") + std::string("{\"v\":") + std::to_string(i % 1000) + ",\"t\":" +
         std::to_string(1795600000 + i) + ",\"u\":\"kWh\"}";
  return s + "]";
}
}  // namespace

TEST_CASE("mqtt payload: a JSON array of 20,001 readings decodes in n log n pointer lookups, not n squared", "[mqtt]") {
  constexpr size_t kCount = 20'001;
  std::string payload = big_array(kCount);
  auto doc = flatten_json(payload);
  REQUIRE(doc);
  REQUIRE(doc->scalars.size() == 3 * kCount);
  // What decode_message does per element: value, timestamp, unit and status by pointer.
  size_t finds = 0;
  for (size_t i = 0; i < kCount; ++i) {
    std::string base = "/" + std::to_string(i);
    REQUIRE(doc->find(base + "/v"));
    REQUIRE(doc->find(base + "/t"));
    REQUIRE(doc->find(base + "/u"));
    REQUIRE_FALSE(doc->find(base + "/status"));
    finds += 4;
  }
  // A binary search needs about log2(60,003) = 16 comparisons a lookup; a scan needs
  // tens of thousands (2.4e9 in all here).
  INFO(doc->pointer_comparisons << " comparisons for " << finds << " lookups");
  CHECK(doc->pointer_comparisons <= finds * 24);

  auto m = mapping(PayloadFormat::json);
  m.json.value = "/v";
  m.json.timestamp = "/t";
  m.json.unit = "/u";
  m.json.status = "/status";
  m.max_payload_bytes = payload.size();
  auto r = decode(m, payload);
  REQUIRE(r);
  REQUIRE(r->size() == kCount);
  CHECK(r->back().value == std::to_string((kCount - 1) % 1000));
  CHECK(*r->back().ts_ms == (1795600000 + int64_t{kCount} - 1) * 1000);
  CHECK(r->back().unit == "kWh");
}

TEST_CASE("mqtt payload: a repeated JSON key reads as its first occurrence", "[mqtt]") {
  auto doc = flatten_json(R"({"b":1,"a":2,"a":3,"c":{"a":4}})");
  REQUIRE(doc);
  REQUIRE(doc->find("/a"));
  CHECK(doc->find("/a")->text == "2");
  CHECK(doc->find("/c/a")->text == "4");
  CHECK(doc->find("/b")->text == "1");
  CHECK_FALSE(doc->find("/d"));
  CHECK_FALSE(doc->find(""));
  auto scalar = flatten_json("42");
  REQUIRE(scalar);
  CHECK(scalar->find("")->text == "42");
}
