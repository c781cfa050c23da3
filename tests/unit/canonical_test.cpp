#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "mrv/core/canonical.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {
RecordFields fields_from_json(const nlohmann::json& j) {
  RecordFields f;
  f.type = j["type"] == "chain-segment" ? RecordType::chain_segment : RecordType::reading;
  f.site_id = j["site"];
  f.seq = j["seq"];
  f.prev_hash_hex = j["prev"];
  f.reading.point_id = j["point"];
  f.reading.value = j["value"];
  f.reading.unit = j["unit"];
  f.reading.ts_ms = j["ts_ms"];
  f.reading.time_source = j["time_source"] == "device" ? TimeSource::device : TimeSource::agent;
  f.reading.quality = *parse_quality(j["quality"].get<std::string>());
  f.reading.reason = j["reason"];
  f.reading.source = j["source"];
  f.received = {j["recv_ms"], j["mono_ms"],
                j["clock"] == "synchronised" ? ClockSync::synchronised : ClockSync::unsynchronised};
  f.boot_id = j["boot_id"];
  f.config_hash_hex = j["config"];
  f.key_id_hex = j["key_id"];
  f.algorithm = j["alg"];
  return f;
}

nlohmann::json vectors() {
  return nlohmann::json::parse(
      test::read_text(std::filesystem::path(MRV_TEST_VECTORS) / "records.json"));
}
}  // namespace

TEST_CASE("canonical: the encoder reproduces every test vector byte for byte", "[canonical]") {
  std::string out;
  for (const auto& v : vectors()) {
    INFO(v["description"].get<std::string>() << " / " << v["fields"]["alg"].get<std::string>());
    REQUIRE(encode_record(fields_from_json(v["fields"]), out));
    CHECK(out == v["canonical"].get<std::string>());
    CHECK(to_hex(sha256(out)) == v["sha256"].get<std::string>());
  }
}

TEST_CASE("canonical: decoding a vector gives back the fields that encode to it", "[canonical]") {
  for (const auto& v : vectors()) {
    std::string bytes = v["canonical"];
    auto f = decode_record(bytes);
    REQUIRE(f);
    std::string again;
    REQUIRE(encode_record(*f, again));
    CHECK(again == bytes);
    CHECK(f->seq == v["fields"]["seq"].get<uint64_t>());
    CHECK(f->reading.reason == v["fields"]["reason"].get<std::string>());
  }
}

TEST_CASE("canonical: ed25519 signatures of the vectors are reproduced exactly", "[canonical][crypto]") {
  test::TempDir dir;
  Signer signer = test::test_signer(dir, "ed25519-test.key");
  for (const auto& v : vectors()) {
    if (v["fields"]["alg"] != "ed25519") continue;
    CHECK(signer.key_id_hex() == v["fields"]["key_id"].get<std::string>());
    auto sig = signer.sign(v["canonical"].get<std::string>());
    REQUIRE(sig);
    CHECK(to_base64(*sig) == v["signature_b64"].get<std::string>());
  }
}

TEST_CASE("canonical: ecdsa signatures made by python verify with our key", "[canonical][crypto]") {
  test::TempDir dir;
  Signer signer = test::test_signer(dir, "ecdsa-p256-test.key");
  auto key = PublicKey::from_pem(signer.public_pem());
  REQUIRE(key);
  int checked = 0;
  for (const auto& v : vectors()) {
    if (v["fields"]["alg"] != "ecdsa-p256-sha256") continue;
    CHECK(key->key_id_hex() == v["fields"]["key_id"].get<std::string>());
    auto sig = from_base64(v["signature_b64"].get<std::string>());
    REQUIRE(sig);
    std::string bytes = v["canonical"];
    CHECK(key->verify(bytes, *sig));
    bytes[10] ^= 1;
    CHECK_FALSE(key->verify(bytes, *sig));
    ++checked;
  }
  CHECK(checked == 3);
}

TEST_CASE("canonical: control characters, quotes and backslashes are escaped minimally", "[canonical]") {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\x01\n\x7f\xc3\xa9", 10));
  CHECK(out == std::string("\"a\\\"b\\\\c\\u0001\\u000a\x7f\xc3\xa9\""));
}

TEST_CASE("canonical: a reading with invalid UTF-8 or a non-decimal value is refused", "[canonical]") {
  Reading r = test::reading("p1", 1, "12.5");
  CHECK(validate_reading(r));
  r.unit = std::string("\xff\xfe", 2);
  auto bad_utf8 = validate_reading(r);
  REQUIRE_FALSE(bad_utf8);
  CHECK(bad_utf8.error().where == "unit");
  r.unit = "kWh";
  for (const char* v : {"nan", "inf", "1e", "--1", "1.", ".5", "0x10", "1,5", " 1"}) {
    r.value = v;
    INFO(v);
    CHECK_FALSE(validate_reading(r));
  }
  r.point_id = "";
  r.value = "1";
  CHECK_FALSE(validate_reading(r));
}

TEST_CASE("canonical: decimal text keeps every form a meter may print", "[canonical]") {
  for (const char* v : {"0", "-0", "007", "1234.567", "-0.5e-3", "1E+10", "3.14159265358979323846"})
    CHECK(is_decimal_text(v));
  CHECK_FALSE(is_decimal_text(std::string(65, '1')));
}

TEST_CASE("canonical: non-canonical bytes are refused when decoding", "[canonical]") {
  std::string bytes = vectors()[0]["canonical"];
  CHECK(decode_record(bytes));
  std::string spaced = bytes;
  spaced.insert(1, " ");
  CHECK_FALSE(decode_record(spaced));
  CHECK_FALSE(decode_record("{\"v\":1}"));
  CHECK_FALSE(decode_record("not json"));
  // Escapes JSON allows but the encoder never writes, and numbers in another form.
  auto with = [&](const std::string& from, const std::string& to) {
    std::string b = bytes;
    auto at = b.find(from);
    REQUIRE(at != std::string::npos);
    return b.replace(at, from.size(), to);
  };
  CHECK_FALSE(decode_record(with("\"v\":1", "\"v\":01")));
  CHECK_FALSE(decode_record(with("\"v\":1", "\"v\":2")));
  CHECK_FALSE(decode_record(with("\"type\":\"reading\"", "\"type\":\"read\\u0069ng\"")));
  CHECK_FALSE(decode_record(with("\"type\":\"reading\"", "\"type\":\"readin\\g\"")));
  CHECK_FALSE(decode_record(with("\"quality\":\"", "\"quality\":\"x")));
  CHECK_FALSE(decode_record(bytes + " "));
}

TEST_CASE("canonical: escaped quotes, backslashes and control characters decode back", "[canonical]") {
  RecordFields f;
  f.site_id = "site";
  f.seq = 7;
  f.prev_hash_hex = std::string(64, '0');
  f.reading.point_id = "p\"1\\";
  f.reading.value = "1.5";
  f.reading.reason = std::string("a\x01b\nc\x1f\"", 7);
  f.reading.source = "src";
  f.boot_id = "b";
  f.config_hash_hex = std::string(64, 'c');
  f.key_id_hex = std::string(64, 'd');
  f.algorithm = "ed25519";
  std::string bytes;
  REQUIRE(encode_record(f, bytes));
  auto back = decode_record(bytes);
  REQUIRE(back);
  CHECK(back->reading.point_id == f.reading.point_id);
  CHECK(back->reading.reason == f.reading.reason);
  CHECK(back->seq == 7);
}
