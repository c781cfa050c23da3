// The control socket's request (agent/src/entry_request): parsed strictly, checked
// against the config, and the CLI's own line accepted as it was built.
#include <catch2/catch.hpp>

#include "entry_request.hpp"
#include "mrv/core/time_text.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {

constexpr int64_t kNow = 1817866800000;  // 2027-08-10T03:00:00Z

const Config& config() {
  static const Config c = [] {
    auto parsed = parse_config(R"(
[site]
id = "s"
[journal]
path = "/tmp/j.db"
[signing]
key_file = "/tmp/k"
[[points]]
id = "m1"
unit = "kWh"
kind = "cumulative"
meter_serial = "EXP-1"
accuracy_class = "0.5S"
[[points]]
id = "m2"
unit = "kWh"
meter_serial = "EXP-2"
[[points]]
id = "m3"
unit = "kW"
)",
                               "/cfg/agent.toml", false);
    REQUIRE(parsed);
    return std::move(*parsed);
  }();
  return c;
}

std::string calibration_line(const std::string& point = "m1", const std::string& serial = "EXP-1",
                             const std::string& error = "0.3", const std::string& result = "pass") {
  return R"({"kind":"calibration","point":")" + point + R"(","value":")" + error + R"(","unit":"%","ts_ms":)" +
         std::to_string(kNow - 86'400'000) +
         R"(,"details":{"id":"0123456789abcdef0123456789abcdef","entered_by":"Saraa","meter_serial":")" + serial +
         R"(","laboratory":"MASM","certificate":"C-1","certificate_sha256":")" + std::string(64, 'a') +
         R"(","result":")" + result + R"(","valid_until":"2029-08-10T16:00:00Z"}})";
}

std::string refusal(const std::string& line) {
  auto e = accept_entry(line, config(), "saraa", kNow);
  return e ? "" : e.error().to_string();
}

}  // namespace

TEST_CASE("entry request: a calibration line becomes a site record with the peer's login as source", "[entry]") {
  auto e = accept_entry(calibration_line(), config(), "saraa", kNow);
  REQUIRE(e);
  CHECK(e->reading.source == "operator:saraa");
  CHECK(e->reading.time_source == TimeSource::site_operator);
  CHECK(e->record.kind == SiteRecordKind::calibration);
  CHECK(e->record.result_pass);
  // The line the CLI would send for it is accepted to the same record.
  auto again = accept_entry(entry_request_line(e->record), config(), "saraa", kNow);
  REQUIRE(again);
  CHECK(again->reading.reason == e->reading.reason);
  CHECK(again->reading.value == "0.3");
}

TEST_CASE("entry request: malformed requests are refused, naming the member", "[entry]") {
  CHECK_THAT(refusal("not json"), Catch::Matchers::StartsWith("request: not a JSON object"));
  CHECK_THAT(refusal("[1]"), Catch::Matchers::StartsWith("request: not a JSON object"));
  CHECK_THAT(refusal(std::string(100, '[')), Catch::Matchers::StartsWith("request: JSON nested deeper"));
  CHECK_THAT(refusal(std::string(kEntryRequestMaxBytes + 1, ' ')), Catch::Matchers::StartsWith("request: longer than 65536"));
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":1,"details":{},"login":"root"})"),
             Catch::Matchers::StartsWith("request.login: unknown member"));
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":"1","details":{}})"), Catch::Matchers::StartsWith("request.ts_ms: not an integer"));
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":1.5,"details":{}})"), Catch::Matchers::StartsWith("request.ts_ms: not an integer"));
  CHECK_THAT(refusal(R"({"kind":"photo","ts_ms":1,"details":{}})"), Catch::Matchers::StartsWith("request.kind: 'photo' is none of"));
  CHECK_THAT(refusal(R"({"ts_ms":1,"details":{}})"), Catch::Matchers::StartsWith("request.kind: missing"));
  CHECK_THAT(refusal(R"({"kind":"note","details":{}})"), Catch::Matchers::StartsWith("request.ts_ms: missing"));
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":1})"), Catch::Matchers::StartsWith("request.details: missing"));
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":1,"details":[]})"), Catch::Matchers::StartsWith("request.details: not a JSON object"));
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":1,"details":{"text":5}})"),
             Catch::Matchers::StartsWith("request.details.text: not a string"));
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":1,"details":{"kind":"note"}})"),
             Catch::Matchers::StartsWith("request.details.kind: the kind goes"));
  CHECK_THAT(refusal(R"({"kind":"note","point":7,"ts_ms":1,"details":{}})"), Catch::Matchers::StartsWith("request.point: not a string"));
  // Then the site-record rules.
  CHECK_THAT(refusal(R"({"kind":"note","ts_ms":1,"details":{"id":"x","entered_by":"a","text":"t"}})"),
             Catch::Matchers::StartsWith("details.id: is not 32 lowercase hex"));
  CHECK_THAT(refusal(calibration_line("m1", "EXP-1", "0.3", "maybe")), Catch::Matchers::StartsWith("details.result"));
}

TEST_CASE("entry request: the config decides the point, the meter, the unit and what a pass may be", "[entry]") {
  CHECK(refusal(calibration_line()).empty());
  CHECK_THAT(refusal(calibration_line("m9")), Catch::Matchers::StartsWith("point: 'm9' is not a point of the config /cfg/agent.toml"));
  CHECK_THAT(refusal(calibration_line("m1", "EXP-2")),
             Catch::Matchers::StartsWith("details.meter_serial: 'EXP-2' is not the meter of point 'm1' in the config ('EXP-1')"));
  CHECK_THAT(refusal(calibration_line("m3", "X")), Catch::Matchers::StartsWith("point: 'm3' has no meter_serial"));
  CHECK_THAT(refusal(calibration_line("m1", "EXP-1", "-0.51")),
             Catch::Matchers::StartsWith("value: a calibration that passed cannot have found an error of -0.51 %: point 'm1' is of "
                                         "accuracy class 0.5S (at most ±0.5 %)"));
  CHECK(refusal(calibration_line("m1", "EXP-1", "-0.5")).empty());
  CHECK(refusal(calibration_line("m1", "EXP-1", "0.9", "fail")).empty());
  CHECK(refusal(calibration_line("m2", "EXP-2", "9")).empty());  // no class given: nothing to hold it to

  std::string manual = R"({"kind":"manual-reading","point":"m1","value":"5","unit":"Wh","ts_ms":1817866800000,"details":{"id":"0123456789abcdef0123456789abcdef","entered_by":"a","meter_serial":"EXP-1"}})";
  CHECK_THAT(refusal(manual), Catch::Matchers::StartsWith("unit: 'Wh' is not the unit of point 'm1' ('kWh')"));
  std::string exchange = R"({"kind":"meter-exchange","point":"m1","unit":"kWh","ts_ms":1817866800000,"details":{"id":"0123456789abcdef0123456789abcdef","entered_by":"a","old_serial":"A","old_final":"1","new_serial":"B","new_initial":"0"}})";
  CHECK_THAT(refusal(exchange), Catch::Matchers::StartsWith("details.old_serial: neither 'A' nor 'B' is the meter of point 'm1'"));
  std::string after = exchange;
  after.replace(after.find("\"B\""), 3, "\"EXP-1\"");
  CHECK(refusal(after).empty());  // the config names the new meter already
  std::string future = R"({"kind":"note","ts_ms":1817960400000,"details":{"id":"0123456789abcdef0123456789abcdef","entered_by":"a","text":"t"}})";
  CHECK_THAT(refusal(future), Catch::Matchers::StartsWith("ts_ms: 2027-08-11T05:00:00Z is more than a day ahead"));
  std::string ancient = future;
  ancient.replace(ancient.find("1817960400000"), 13, "-9223372036854775808");
  CHECK_THAT(refusal(ancient), Catch::Matchers::StartsWith("ts_ms: before 1970"));
}

TEST_CASE("entry request: answers are one JSON line each", "[entry]") {
  CHECK(entry_answer(SiteRecordCommit{0, 42, std::string(64, 'a'), false}) ==
        R"({"duplicate":false,"hash":")" + std::string(64, 'a') + R"(","ok":true,"seq":42})");
  CHECK(entry_refusal("point: 'x' is \"bad\"\n") == R"({"error":"point: 'x' is \"bad\"\n","ok":false})");
  CHECK(login_name(0) == "root");
  CHECK(login_name(4'000'000'000u) == "uid:4000000000");
}
