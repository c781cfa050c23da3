// Cosignatures (docs/verification.md §3.1) against a vector made with Python's
// cryptography (tests/vectors/make_cosignature_vector.py): the same line byte for byte;
// the checks that tell a cosignature verified, another cosigner's, or forged; the
// parser's refusals; the journal keeps them per checkpoint and reads them back.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "mrv/core/checkpoint.hpp"
#include "mrv/core/cosignature.hpp"
#include "mrv/registry/cosigner.hpp"
#include "test_support.hpp"

using namespace mrv;
using json = nlohmann::json;

namespace {

json vector() { return json::parse(test::read_text(std::filesystem::path(MRV_TEST_VECTORS) / "cosignature.json")); }

std::string with_byte_flipped(const std::string& line, size_t index_from_end) {
  size_t space = line.rfind(' ');
  std::string bytes = *from_base64(line.substr(space + 1));
  bytes[bytes.size() - 1 - index_from_end] = static_cast<char>(bytes[bytes.size() - 1 - index_from_end] ^ 1);
  return line.substr(0, space + 1) + to_base64(bytes);
}

}  // namespace

TEST_CASE("cosignature: the line of an independent implementation, byte for byte, and its checks", "[cosignature]") {
  test::TempDir dir;
  json v = vector();
  Signer signer = test::test_signer(dir, "ed25519-cosigner-test.key");
  auto key = PublicKey::from_pem(v["public_key_pem"].get<std::string>());
  REQUIRE(key);
  std::string note = v["note"], name = v["name"], line = v["line"];
  auto made = cosign_checkpoint(signer, *key, name, note, v["time"].get<uint64_t>());
  REQUIRE(made);
  CHECK(*made == line);

  auto parsed = parse_cosignature(line);
  REQUIRE(parsed);
  CHECK(parsed->name == name);
  CHECK(parsed->time_s == v["time"].get<uint64_t>());
  CHECK(check_cosignature(*parsed, *key, note) == CosignatureCheck::verified);
  // Another note (another tree size), another time, another signature: this key's, but bad.
  std::string other_note = note;
  other_note[other_note.find("1042")] = '2';
  CHECK(check_cosignature(*parsed, *key, other_note) == CosignatureCheck::bad);
  for (size_t from_end : {0u, 64u, 71u}) {  // the signature, the timestamp's last and first bytes
    auto forged = parse_cosignature(with_byte_flipped(line, from_end));
    REQUIRE(forged);
    CHECK(check_cosignature(*forged, *key, note) == CosignatureCheck::bad);
  }
  // Under another name, or checked with another key: not this cosigner's line.
  auto renamed = parse_cosignature("\xE2\x80\x94 other.example/w1" + line.substr(line.rfind(' ')));
  REQUIRE(renamed);
  CHECK(check_cosignature(*renamed, *key, note) == CosignatureCheck::other_key);
  auto site_key = PublicKey::from_pem(test::test_signer(dir).public_pem());
  CHECK(check_cosignature(*parsed, *site_key, note) == CosignatureCheck::other_key);
  auto ecdsa = PublicKey::from_pem(test::test_signer(dir, "ecdsa-p256-test.key").public_pem());
  CHECK(check_cosignature(*parsed, *ecdsa, note) == CosignatureCheck::other_key);
  CHECK(cosigner_key_id(*ecdsa, name).empty());
}

TEST_CASE("cosignature: the parser refuses what is not a cosignature/v1 line", "[cosignature]") {
  std::string line = vector()["line"];
  std::string b64 = line.substr(line.rfind(' ') + 1);
  std::string bytes = *from_base64(b64);
  std::string max_time = bytes;
  max_time[4] = static_cast<char>(0x80);  // 2^63: beyond what C2SP allows
  for (const std::string& bad : {
           std::string("- registry.example/mrv ") + b64,                      // not U+2014
           std::string("\xE2\x80\x94 registry.example/mrv"),                  // no signature
           std::string("\xE2\x80\x94  ") + b64,                               // empty name
           std::string("\xE2\x80\x94 a+b ") + b64,                            // '+' in the name
           std::string("\xE2\x80\x94 ") + std::string(257, 'n') + " " + b64,  // a name too long
           std::string("\xE2\x80\x94 n ") + to_base64(bytes.substr(0, 75)),   // 75 bytes
           std::string("\xE2\x80\x94 n ") + to_base64(bytes + "x"),           // 77 bytes
           std::string("\xE2\x80\x94 n ") + to_base64(max_time),
           std::string("\xE2\x80\x94 n ") + b64 + " extra",
           // Base64 that OpenSSL's decoder takes but is not canonical: blanks, '=' inside,
           // unused bits set (the last character before "==").
           std::string("\xE2\x80\x94 n  ") + b64,
           std::string("\xE2\x80\x94 n ") + b64.substr(0, 4) + "=" + b64.substr(5),
           std::string("\xE2\x80\x94 n ") + b64.substr(0, b64.size() - 3) +
               static_cast<char>(b64[b64.size() - 3] + 1) + "==",
       })
    CHECK_FALSE(parse_cosignature(bad));
  CHECK_FALSE(valid_cosigner_name("with space"));
  CHECK(valid_cosigner_name("registry.example/mrv"));
}

TEST_CASE("cosignature: the registry's cosigner needs Ed25519 and a name, and knows its own lines", "[cosignature]") {
  test::TempDir dir;
  (void)test::test_signer(dir, "ed25519-cosigner-test.key");
  (void)test::test_signer(dir, "ecdsa-p256-test.key");
  auto ecdsa = registry::Cosigner::load(dir / "ecdsa-p256-test.key", "r");
  REQUIRE_FALSE(ecdsa);
  CHECK(ecdsa.error().message.find("Ed25519") != std::string::npos);
  CHECK_FALSE(registry::Cosigner::load(dir / "ed25519-cosigner-test.key", "has space"));
  json v = vector();
  auto c = registry::Cosigner::load(dir / "ed25519-cosigner-test.key", v["name"]);
  REQUIRE(c);
  auto line = c->cosign(v["note"].get<std::string>(), v["time"]);
  REQUIRE(line);
  CHECK(*line == v["line"]);
  CHECK(c->is_own(*line, v["note"].get<std::string>()));
  CHECK_FALSE(c->is_own(with_byte_flipped(*line, 0), v["note"].get<std::string>()));
}

TEST_CASE("cosignature: the journal keeps them per checkpoint, once, and reads them with it", "[cosignature][journal]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  REQUIRE(j->append(std::vector<AcceptedReading>{test::accepted("m1", 1, "1")}));
  auto made = j->checkpoint("test");
  REQUIRE(made);
  REQUIRE(*made);
  const Checkpoint& c = **made;
  CHECK(*j->add_cosignature(c, "line a"));
  CHECK_FALSE(*j->add_cosignature(c, "line a"));  // held already
  CHECK(*j->add_cosignature(c, "line b"));
  Checkpoint unknown = c;
  unknown.note += "x";
  auto refused = j->add_cosignature(unknown, "line c");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::not_found);
  auto held = j->checkpoints(c.tree_size, c.tree_size);
  REQUIRE(held);
  REQUIRE(held->size() == 1);
  CHECK(held->front().cosignatures == std::vector<std::string>{"line a", "line b"});
}
