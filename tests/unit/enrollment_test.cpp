// Enrollment at run time (registry/enrollment.hpp, src/audit_log.hpp): actions parsed,
// checked against the roster and applied; the audit log's chain kept, replayed and
// refused when edited.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "audit_log.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/registry/enrollment.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::registry;
using json = nlohmann::json;

namespace {

const std::string kHash(64, 'a');

AdminAction parsed(const json& j) {
  auto a = parse_admin_action(j.dump());
  INFO(j.dump() << " -> " << (a ? "" : a.error().message));
  REQUIRE(a);
  return *a;
}

std::string refusal_of(const Roster& roster, const json& j) {
  auto a = parse_admin_action(j.dump());
  if (!a) return std::to_string(a.error().status) + " " + a.error().message;
  auto ok = check_admin_action(roster, *a);
  return ok ? "" : std::to_string(ok.error().status) + " " + ok.error().message;
}

std::string public_pem(const test::TempDir& dir) {
  return test::test_signer(dir, "ed25519-test.key").public_pem();
}

}  // namespace

TEST_CASE("enrollment: each verb applies, and the roster refuses what would conflict", "[registry][enroll]") {
  test::TempDir dir;
  Roster roster;
  roster.sites["static"].from_config = true;
  roster.sites["static"].credential.token_sha256 = std::string(64, 'b');
  auto apply = [&](const json& j) {
    REQUIRE(refusal_of(roster, j).empty());
    apply_admin_action(roster, parsed(j));
  };
  apply({{"action", "add_site"}, {"site", "pv-1"}, {"token_sha256", kHash}, {"keys", {public_pem(dir)}}});
  CHECK(roster.sites.at("pv-1").pinned_pems.size() == 1);
  CHECK(refusal_of(roster, {{"action", "add_site"}, {"site", "pv-1"}, {"token_sha256", std::string(64, 'c')}}).starts_with("409"));
  CHECK(refusal_of(roster, {{"action", "add_reader"}, {"reader", "r"}, {"token_sha256", kHash}}) ==
        "409 site 'pv-1' has that credential");
  apply({{"action", "suspend"}, {"site", "pv-1"}});
  CHECK(roster.sites.at("pv-1").suspended);
  CHECK(refusal_of(roster, {{"action", "suspend"}, {"site", "pv-1"}}) == "409 already suspended");
  apply({{"action", "resume"}, {"site", "pv-1"}});
  std::string key_id = PublicKey::from_pem(public_pem(dir))->key_id_hex();
  apply({{"action", "revoke_key"}, {"site", "pv-1"}, {"key_id", key_id}, {"from_seq", 42}, {"reason", "stolen"}});
  CHECK(roster.sites.at("pv-1").revoked_from.at(key_id) == 42);
  CHECK(refusal_of(roster, {{"action", "pin_key"}, {"site", "pv-1"}, {"public_key_pem", public_pem(dir)}}).starts_with("409 key"));
  CHECK(refusal_of(roster, {{"action", "remove"}, {"site", "static"}}).starts_with("409 its entry is in registry.toml"));
  CHECK(refusal_of(roster, {{"action", "set_credential"}, {"site", "static"}, {"token_sha256", kHash}}).starts_with("409"));
  apply({{"action", "suspend"}, {"site", "static"}});  // a config's site may be suspended
  apply({{"action", "remove"}, {"site", "pv-1"}});
  CHECK(roster.sites.at("pv-1").removed);
  CHECK(refusal_of(roster, {{"action", "resume"}, {"site", "pv-1"}}) == "409 site 'pv-1' was removed");
  CHECK(refusal_of(roster, {{"action", "add_site"}, {"site", "pv-1"}, {"token_sha256", std::string(64, 'd')}})
            .find("not enrolled again") != std::string::npos);
  CHECK(refusal_of(roster, {{"action", "suspend"}, {"reader", "nobody"}}) == "404 no reader 'nobody'");
}

TEST_CASE("enrollment: malformed actions are refused, naming the member", "[registry][enroll]") {
  test::TempDir dir;
  Roster roster;
  auto why = [&](const std::string& text) {
    auto a = parse_admin_action(text);
    return a ? std::string() : a.error().message;
  };
  CHECK(why("[]") == "not a JSON object");
  CHECK(why(std::string(100, '[')).find("nested deeper") != std::string::npos);
  CHECK(why("{\"action\":\"add_site\",\"site\":\"a\",\"token_sha256\":\"" + kHash + "\",\"x\":1}") ==
        "action add_site takes no member 'x'");
  CHECK(why("{\"action\":\"add_reader\",\"site\":\"a\",\"token_sha256\":\"" + kHash + "\"}") ==
        "action add_reader names its subject with reader");
  CHECK(why("{\"action\":\"revoke_key\",\"site\":\"a\",\"key_id\":\"" + kHash + "\",\"from_seq\":-1}").starts_with("from_seq"));
  CHECK(why("{\"action\":\"revoke_key\",\"site\":\"a\",\"key_id\":\"" + kHash + "\",\"from_seq\":1.5}").starts_with("from_seq"));
  CHECK(why("{\"action\":\"revoke_key\",\"site\":\"a\",\"key_id\":\"AB\",\"from_seq\":1}").starts_with("key_id"));
  CHECK(why("{\"action\":\"revoke_key\",\"site\":\"a\",\"key_id\":\"" + kHash + "\",\"from_seq\":1,\"reason\":\"" +
            std::string(kMaxReasonBytes + 1, 'r') + "\"}").find("longer than") != std::string::npos);
  CHECK(why("{\"action\":\"pin_key\",\"site\":\"a\"}") == "public_key_pem is required");
  CHECK(why("{\"action\":\"add_reader\",\"reader\":\"r\",\"token_sha256\":\"" + to_hex(sha256("")) + "\"}") ==
        "token_sha256 is the hash of an empty token");
  CHECK(why("{\"action\":\"add_site\",\"site\":\"a\",\"token_sha256\":\"" + kHash + "\",\"keys\":[1]}") ==
        "keys[0] must be a string");
  // At the limits: 64 KiB of text, a reason of 1,024 bytes.
  std::string at = "{\"action\":\"revoke_key\",\"site\":\"a\",\"key_id\":\"" + kHash + "\",\"from_seq\":1,\"reason\":\"" +
                   std::string(kMaxReasonBytes, 'r') + "\"}";
  at.resize(kMaxAdminActionBytes, ' ');
  CHECK(why(at).empty());
  CHECK(why(at + " ").starts_with("an action is at most"));
  // What the log keeps is the verb's members only, whatever order they came in.
  auto a = parsed(json::parse("{\"reader\":\"r\",\"token_sha256\":\"" + kHash + "\",\"action\":\"add_reader\"}"));
  CHECK(a.to_json().dump() == "{\"action\":\"add_reader\",\"reader\":\"r\",\"token_sha256\":\"" + kHash + "\"}");
}

TEST_CASE("enrollment: the audit log chains its entries, replays them, and refuses an edited file", "[registry][enroll]") {
  test::TempDir dir;
  auto file = dir.path() / "audit.db";
  std::vector<std::string> lines;
  {
    auto log = AuditLog::open_sqlite(file, [](uint64_t, const json&) -> Result<void> { return {}; });
    REQUIRE(log);
    for (int i = 0; i < 3; ++i) {
      auto line = (*log)->append("ops", 1000 + i, {{"action", "suspend"}, {"site", "s" + std::to_string(i)}});
      REQUIRE(line);
      REQUIRE(*line);
      lines.push_back(**line);
    }
    auto all = (*log)->lines(2, 10);
    REQUIRE(all);
    CHECK(*all == lines[1] + "\n" + lines[2] + "\n");
  }
  CHECK(json::parse(lines[0])["prev"] == std::string(64, '0'));
  CHECK(json::parse(lines[2])["prev"] == to_hex(sha256(lines[1])));
  std::vector<uint64_t> replayed;
  {
    auto log = AuditLog::open_sqlite(file, [&](uint64_t seq, const json& action) -> Result<void> {
      replayed.push_back(seq);
      CHECK(action["site"] == "s" + std::to_string(seq - 1));
      return {};
    });
    REQUIRE(log);
    CHECK((*log)->last_seq() == 3);
  }
  CHECK(replayed == std::vector<uint64_t>{1, 2, 3});
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(file.c_str(), &db) == SQLITE_OK);
  CHECK(sqlite3_exec(db, "DELETE FROM audit WHERE seq = 3", nullptr, nullptr, nullptr) == SQLITE_CONSTRAINT);
  REQUIRE(sqlite3_exec(db, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 2", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto reopened = AuditLog::open_sqlite(file, [](uint64_t, const json&) -> Result<void> { return {}; });
  REQUIRE_FALSE(reopened);
  CHECK(reopened.error().to_string().find("audit seq 3: follows seq 1") != std::string::npos);
}
