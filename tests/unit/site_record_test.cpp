// Site records (docs/record-format.md §1.6): the vectors of tests/vectors/site_records.json
// (written from the spec by make_site_record_vectors.py) reproduced byte for byte, a
// round trip of every kind, and every refusal naming its field or member.
#include <functional>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/site_record.hpp"
#include "mrv/core/time_text.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {

nlohmann::json site_vectors() {
  return nlohmann::json::parse(test::read_text(std::filesystem::path(MRV_TEST_VECTORS) / "site_records.json"));
}

RecordFields fields_of(const nlohmann::json& j) {
  RecordFields f;
  f.type = *parse_record_type(j["type"].get<std::string>());
  f.site_id = j["site"];
  f.seq = j["seq"];
  f.prev_hash_hex = j["prev"];
  f.reading.point_id = j["point"];
  f.reading.value = j["value"];
  f.reading.unit = j["unit"];
  f.reading.ts_ms = j["ts_ms"];
  f.reading.time_source = *parse_time_source(j["time_source"].get<std::string>());
  f.reading.quality = *parse_quality(j["quality"].get<std::string>());
  f.reading.reason = j["reason"];
  f.reading.source = j["source"];
  f.received = {j["recv_ms"], j["mono_ms"], ClockSync::synchronised};
  f.boot_id = j["boot_id"];
  f.config_hash_hex = j["config"];
  f.key_id_hex = j["key_id"];
  f.algorithm = j["alg"];
  return f;
}

// A calibration that passes every check; tests change one thing each.
SiteRecord calibration() {
  SiteRecord s;
  s.kind = SiteRecordKind::calibration;
  s.id = "0123456789abcdef0123456789abcdef";
  s.entered_by = "Saraa B.";
  s.login = "saraa";
  s.point = "pv1.export_kwh";
  s.ts_ms = *parse_time_ms("2027-08-10T00:00:00Z");
  s.value = "0.3";
  s.unit = "%";
  s.details = {{"meter_serial", "EXP-0001"}, {"laboratory", "MASM"}, {"certificate", "CAL-1"},
               {"certificate_sha256", std::string(64, 'a')}, {"result", "pass"},
               {"valid_until", "2029-08-10T16:00:00Z"}};
  return s;
}

// The error site_record_reading gives for `s`, as "where: message" ("" when it passes).
std::string refusal(const SiteRecord& s) {
  auto r = site_record_reading(s);
  return r ? "" : r.error().to_string();
}

// The error for a calibration whose details text is `details`, with the other fields right.
std::string refusal_of_details(const std::string& details) {
  auto r = site_record_reading(calibration());
  REQUIRE(r);
  r->reason = details;
  auto parsed = parse_site_record(*r);
  return parsed ? "" : parsed.error().to_string();
}

}  // namespace

TEST_CASE("site record: every vector encodes, decodes and is signed byte for byte as the spec writes it",
          "[site-record]") {
  test::TempDir dir;
  Signer signer = test::test_signer(dir, "ed25519-test.key");
  auto vectors = site_vectors();
  REQUIRE(vectors.size() == 5);
  std::string out;
  for (const auto& v : vectors) {
    INFO(v["description"].get<std::string>());
    RecordFields f = fields_of(v["fields"]);
    REQUIRE(encode_record(f, out));
    CHECK(out == v["canonical"].get<std::string>());
    CHECK(to_hex(sha256(out)) == v["sha256"].get<std::string>());
    CHECK(to_base64(*signer.sign(out)) == v["signature_b64"].get<std::string>());
    auto decoded = decode_record(out);
    REQUIRE(decoded);
    CHECK(decoded->type == RecordType::site_record);
    CHECK(decoded->reading.time_source == TimeSource::site_operator);
    auto site = parse_site_record(*decoded);
    REQUIRE(site);
    CHECK(site->details == v["details"].get<std::map<std::string, std::string>>());
    CHECK(site->login == "batbayar");
    CHECK(site->entered_by == "Батбаяр Д.");
  }
}

TEST_CASE("site record: site_record_reading makes each vector's reading again, and parsing gives the typed members",
          "[site-record]") {
  for (const auto& v : site_vectors()) {
    INFO(v["description"].get<std::string>());
    auto site = parse_site_record(fields_of(v["fields"]));
    REQUIRE(site);
    auto again = site_record_reading(*site);
    REQUIRE(again);
    CHECK(again->reason == v["fields"]["reason"].get<std::string>());
    CHECK(again->source == v["fields"]["source"].get<std::string>());
    CHECK(again->point_id == v["fields"]["point"].get<std::string>());
    CHECK(again->value == v["fields"]["value"].get<std::string>());
    CHECK(again->ts_ms == v["fields"]["ts_ms"].get<int64_t>());
    switch (site->kind) {
      case SiteRecordKind::manual_reading:
        CHECK(site->meter_serial == "EXP-0001");
        break;
      case SiteRecordKind::meter_exchange:
        CHECK(site->old_serial == "EXP-0001");
        CHECK(site->new_serial == "EXP-0002");
        CHECK(site->old_final == 1250.25);
        CHECK(site->new_initial == 0.0);
        break;
      case SiteRecordKind::calibration:
        CHECK(site->result_pass);
        CHECK(site->error_percent == -0.3);
        CHECK(site->valid_until_ms == *parse_time_ms("2029-08-10T16:00:00Z"));
        CHECK(site->certificate_sha256 == std::string(64, '2'));
        break;
      case SiteRecordKind::document:
        CHECK(site->document_type == "sales-statement");
        CHECK(site->parameter == "EG_p");
        CHECK(site->period_to_ms == *parse_time_ms("2027-07-31T16:00:00Z"));
        CHECK(site->point.empty());
        break;
      case SiteRecordKind::note:
        CHECK(site->to_ms == *parse_time_ms("2027-08-10T06:20:00Z"));
        CHECK(site->details.at("text").find('\n') != std::string::npos);
        break;
    }
  }
}

TEST_CASE("site record: kind, id and entered_by come from the fields, whatever the details map says", "[site-record]") {
  SiteRecord s = calibration();
  s.details["kind"] = "note";
  s.details["id"] = "ffffffffffffffffffffffffffffffff";
  auto r = site_record_reading(s);
  REQUIRE(r);
  auto back = parse_site_record(*r);
  REQUIRE(back);
  CHECK(back->kind == SiteRecordKind::calibration);
  CHECK(back->id == s.id);
  CHECK(back->entered_by == "Saraa B.");
  CHECK(to_string(SiteRecordKind::meter_exchange) == "meter-exchange");
  CHECK(parse_site_record_kind("document") == SiteRecordKind::document);
  CHECK_FALSE(parse_site_record_kind("photo"));
}

TEST_CASE("site record: each malformed member, field or details text is refused, naming it", "[site-record]") {
  CHECK(refusal(calibration()).empty());
  struct Case {
    const char* what;
    std::function<void(SiteRecord&)> change;
    const char* where;
  };
  std::vector<Case> cases = {
      {"a required member missing", [](SiteRecord& s) { s.details.erase("laboratory"); }, "details.laboratory: missing"},
      {"an unknown member", [](SiteRecord& s) { s.details["colour"] = "red"; }, "details.colour: is not a member"},
      {"another kind's member", [](SiteRecord& s) { s.details["text"] = "x"; }, "details.text: is not a member"},
      {"an empty member", [](SiteRecord& s) { s.details["comment"] = ""; }, "details.comment: is empty"},
      {"a member over 4096 bytes", [](SiteRecord& s) { s.details["comment"] = std::string(4097, 'x'); },
       "details.comment: is longer than 4096"},
      {"a control character in a one-line member", [](SiteRecord& s) { s.details["laboratory"] = "a\nb"; },
       "details.laboratory: holds a control character"},
      {"a carriage return in a comment", [](SiteRecord& s) { s.details["comment"] = "a\rb"; },
       "details.comment: holds a control character other than"},
      {"invalid UTF-8", [](SiteRecord& s) { s.details["laboratory"] = "\xff"; }, "reason: text is not valid UTF-8"},
      {"an id of 31 hex digits", [](SiteRecord& s) { s.id.pop_back(); }, "details.id: is not 32 lowercase hex"},
      {"an id in upper case", [](SiteRecord& s) { s.id = "0123456789ABCDEF0123456789ABCDEF"; }, "details.id"},
      {"a SHA-256 in upper case", [](SiteRecord& s) { s.details["certificate_sha256"] = std::string(64, 'A'); },
       "details.certificate_sha256: is not a SHA-256"},
      {"a SHA-256 one digit short", [](SiteRecord& s) { s.details["certificate_sha256"] = std::string(63, 'a'); },
       "details.certificate_sha256"},
      {"a date for an instant", [](SiteRecord& s) { s.details["valid_until"] = "2029-08-10"; },
       "details.valid_until: '2029-08-10' is not an instant"},
      {"an instant with an offset", [](SiteRecord& s) { s.details["valid_until"] = "2029-08-11T00:00:00+08:00"; },
       "details.valid_until"},
      {"an instant that is no calendar day", [](SiteRecord& s) { s.details["valid_until"] = "2029-02-30T00:00:00Z"; },
       "details.valid_until"},
      {"zero milliseconds written out", [](SiteRecord& s) { s.details["valid_until"] = "2029-08-10T16:00:00.000Z"; },
       "details.valid_until"},
      {"valid until before the calibration", [](SiteRecord& s) { s.details["valid_until"] = "2027-08-09T00:00:00Z"; },
       "details.valid_until: is not after"},
      {"a result other than pass or fail", [](SiteRecord& s) { s.details["result"] = "ok"; },
       "details.result: 'ok' is neither"},
      {"an error that is no decimal", [](SiteRecord& s) { s.value = "0,3"; }, "value: '0,3' is not decimal text"},
      {"a calibration without its error", [](SiteRecord& s) { s.value = ""; }, "value: a calibration record holds"},
      {"a calibration in another unit", [](SiteRecord& s) { s.unit = "kWh"; }, "unit: a calibration's unit is \"%\""},
      {"a calibration without a point", [](SiteRecord& s) { s.point = ""; }, "point: a calibration record names"},
      {"an empty login", [](SiteRecord& s) { s.login = ""; }, "source: a site record's source"},
      {"a control character in the login", [](SiteRecord& s) { s.login = "a\tb"; }, "source: holds a control"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    SiteRecord s = calibration();
    c.change(s);
    CHECK_THAT(refusal(s), Catch::Matchers::StartsWith(c.where));
  }
}

TEST_CASE("site record: each kind's own rules are held", "[site-record]") {
  auto with_kind = [](SiteRecordKind kind, std::map<std::string, std::string> details) {
    SiteRecord s = calibration();
    s.kind = kind;
    s.details = std::move(details);
    s.value = "";
    s.unit = "";
    return s;
  };
  SiteRecord exchange = with_kind(SiteRecordKind::meter_exchange,
                                  {{"old_serial", "A"}, {"old_final", "10.5"}, {"new_serial", "B"}, {"new_initial", "0"}});
  exchange.unit = "kWh";
  CHECK(refusal(exchange).empty());
  SiteRecord no_serials = exchange;
  no_serials.details.erase("old_serial");
  no_serials.details.erase("new_serial");
  CHECK_THAT(refusal(no_serials), Catch::Matchers::StartsWith("details.new_serial: missing"));
  SiteRecord same = exchange;
  same.details["new_serial"] = "A";
  CHECK_THAT(refusal(same), Catch::Matchers::StartsWith("details.new_serial: equals old_serial"));
  SiteRecord bad_register = exchange;
  bad_register.details["old_final"] = "1e";
  CHECK_THAT(refusal(bad_register), Catch::Matchers::StartsWith("details.old_final: '1e' is not decimal"));
  SiteRecord exchange_value = exchange;
  exchange_value.value = "1";
  CHECK_THAT(refusal(exchange_value), Catch::Matchers::StartsWith("value: a meter-exchange record has no value"));

  SiteRecord manual = with_kind(SiteRecordKind::manual_reading, {{"meter_serial", "EXP-1"}});
  CHECK_THAT(refusal(manual), Catch::Matchers::StartsWith("value: a manual-reading record holds the register"));
  manual.value = "12.5";
  manual.unit = "kWh";
  CHECK(refusal(manual).empty());
  manual.details["photo_sha256"] = "xyz";
  CHECK_THAT(refusal(manual), Catch::Matchers::StartsWith("details.photo_sha256"));

  SiteRecord document = with_kind(SiteRecordKind::document,
                                  {{"document_type", "invoice"}, {"number", "INV-1"}, {"issuer", "Grid"},
                                   {"period_to", "2027-09-01T00:00:00Z"}, {"file_sha256", std::string(64, 'b')},
                                   {"file_name", "inv.pdf"}});
  document.value = "100";
  document.unit = "kWh";
  CHECK_THAT(refusal(document), Catch::Matchers::StartsWith("point: a document record is about the site"));
  document.point = "";
  CHECK(refusal(document).empty());
  SiteRecord receipt = document;
  receipt.details["document_type"] = "receipt";
  CHECK_THAT(refusal(receipt), Catch::Matchers::StartsWith("details.document_type: 'receipt' is none of"));
  SiteRecord unitless = document;
  unitless.unit = "";
  CHECK_THAT(refusal(unitless), Catch::Matchers::StartsWith("unit: a document's quantity needs its unit"));
  SiteRecord backwards = document;
  backwards.details["period_to"] = "2027-08-01T00:00:00Z";
  CHECK_THAT(refusal(backwards), Catch::Matchers::StartsWith("details.period_to: is not after"));

  SiteRecord note = with_kind(SiteRecordKind::note, {{"text", "line one\nline two\ttab"}});
  CHECK(refusal(note).empty());
  note.point = "";  // a note about the whole site
  CHECK(refusal(note).empty());
  SiteRecord note_value = note;
  note_value.value = "1";
  CHECK_THAT(refusal(note_value), Catch::Matchers::StartsWith("value: a note record has no value"));
  SiteRecord note_to = note;
  note_to.details["to"] = "2027-08-10";
  CHECK_THAT(refusal(note_to), Catch::Matchers::StartsWith("details.to: '2027-08-10' is not an instant"));
}

TEST_CASE("site record: details text that is not canonical is refused, naming the member or the byte", "[site-record]") {
  auto good = site_record_reading(calibration());
  REQUIRE(good);
  const std::string text = good->reason;
  CHECK(refusal_of_details(text).empty());
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    return t.replace(at, from.size(), to);
  };
  CHECK_THAT(refusal_of_details(""), Catch::Matchers::StartsWith("details: empty"));
  CHECK_THAT(refusal_of_details("[]"), Catch::Matchers::StartsWith("details: expected '{' at byte 0"));
  CHECK_THAT(refusal_of_details("{}"), Catch::Matchers::StartsWith("details.kind: missing"));
  CHECK_THAT(refusal_of_details(" " + text), Catch::Matchers::StartsWith("details: expected '{' at byte 0, found whitespace"));
  CHECK_THAT(refusal_of_details(replaced("\":\"", "\": \"")), Catch::Matchers::Contains("found whitespace"));
  CHECK_THAT(refusal_of_details(text + "\n"), Catch::Matchers::StartsWith("details: expected the end after the object"));
  CHECK_THAT(refusal_of_details(replaced("\"result\":\"pass\"", "\"result\":true")),
             Catch::Matchers::StartsWith("details.result: not a string"));
  CHECK_THAT(refusal_of_details(replaced("\"result\":\"pass\"", "\"result\":[\"pass\"]")),
             Catch::Matchers::StartsWith("details.result: not a string"));
  // Members out of byte order, and one twice.
  CHECK_THAT(refusal_of_details("{\"kind\":\"note\",\"id\":\"0123456789abcdef0123456789abcdef\"}"),
             Catch::Matchers::StartsWith("details.id: comes after \"kind\": members must be sorted"));
  CHECK_THAT(refusal_of_details(replaced("{", "{\"certificate\":\"CAL-1\",")),
             Catch::Matchers::StartsWith("details.certificate: appears twice"));
  // Escapes other than record strings use (the text holds none to begin with).
  CHECK_THAT(refusal_of_details(replaced("MASM", "M\\u0041SM")), Catch::Matchers::StartsWith("details.laboratory: has an escape"));
  CHECK_THAT(refusal_of_details(replaced("MASM", "MA\\nSM")), Catch::Matchers::StartsWith("details.laboratory: has an escape"));
  CHECK_THAT(refusal_of_details(replaced("MASM", "MA\\/SM")), Catch::Matchers::StartsWith("details.laboratory: has an escape"));
  CHECK_THAT(refusal_of_details(replaced("MASM", "MA\\u000ASM")), Catch::Matchers::StartsWith("details.laboratory: has an escape"));
  CHECK_THAT(refusal_of_details(replaced("MASM", "MA\x01SM")), Catch::Matchers::StartsWith("details.laboratory: holds a control character that is not escaped"));
  CHECK_THAT(refusal_of_details(text.substr(0, text.size() - 3)), Catch::Matchers::StartsWith("details.valid_until: is not closed"));
  // Escaped right, the member's own rule still applies.
  CHECK_THAT(refusal_of_details(replaced("MASM", "MA\\u000aSM")), Catch::Matchers::StartsWith("details.laboratory: holds a control character (one line"));
}

TEST_CASE("site record: the record checks refuse a person's time source, quality and source on the wrong record",
          "[site-record][canonical]") {
  auto v = site_vectors()[2];
  RecordFields f = fields_of(v["fields"]);
  std::string bytes;
  auto decode_error = [&](const RecordFields& changed) {
    REQUIRE(encode_record(changed, bytes));
    auto d = decode_record(bytes);
    return d ? std::string() : d.error().to_string();
  };
  CHECK(decode_error(f).empty());
  RecordFields agent_time = f;
  agent_time.reading.time_source = TimeSource::agent;
  CHECK_THAT(decode_error(agent_time), Catch::Matchers::StartsWith("time_source: a site record's time_source is \"operator\""));
  RecordFields bad_quality = f;
  bad_quality.reading.quality = Quality::substitute;
  CHECK_THAT(decode_error(bad_quality), Catch::Matchers::StartsWith("quality: a site record's quality is \"good\""));
  RecordFields meter_source = f;
  meter_source.reading.source = "modbus:gw1/unit3";
  CHECK_THAT(decode_error(meter_source), Catch::Matchers::StartsWith("source: a site record's source"));
  RecordFields broken_details = f;
  broken_details.reading.reason = "calibrated, passed";
  CHECK_THAT(decode_error(broken_details), Catch::Matchers::StartsWith("details: expected '{'"));
  RecordFields reading = f;
  reading.type = RecordType::reading;
  CHECK_THAT(decode_error(reading), Catch::Matchers::StartsWith("time_source: \"operator\" belongs to site records"));
  RecordFields segment = f;
  segment.type = RecordType::chain_segment;
  segment.reading.point_id = segment.reading.value = segment.reading.unit = "";
  CHECK_THAT(decode_error(segment), Catch::Matchers::StartsWith("time_source: \"operator\" belongs to site records"));
  // An unknown type or time source never decodes as a known one.
  std::string canonical = v["canonical"];
  std::string other = canonical;
  other.replace(other.find("site-record"), 11, "site-report");
  CHECK_FALSE(decode_record(other));
  other = canonical;
  other.replace(other.find("\"operator\""), 10, "\"operatox\"");
  CHECK_FALSE(decode_record(other));
}

TEST_CASE("site record: format_utc_ms writes instants as the details hold them", "[site-record]") {
  CHECK(format_utc_ms(0) == "1970-01-01T00:00:00Z");
  CHECK(format_utc_ms(1817866800000) == "2027-08-10T03:00:00Z");
  CHECK(format_utc_ms(1817866800250) == "2027-08-10T03:00:00.250Z");
  CHECK(format_utc_ms(-1) == "1969-12-31T23:59:59.999Z");
  CHECK_FALSE(format_utc_ms(INT64_MIN).empty());  // no overflow (UBSan would say)
}
