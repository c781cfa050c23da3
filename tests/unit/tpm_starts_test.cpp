// The starts bound to the TPM's counter (docs/verification.md §8.4) on swtpm vectors
// (tests/vectors/tpm/starts.json): three real starts verify; a start left out shows as a
// jump; forged values, signatures, heads, NV indexes and keys do not verify; the parsers
// refuse truncated, padded and mistyped input.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "mrv/core/crypto.hpp"
#include "mrv/evidence/tpm_starts.hpp"
#include "mrv/evidence/tpm_statement.hpp"
#include "tpm_vectors.hpp"

using namespace mrv;
using namespace mrv::evidence;
using json = nlohmann::json;

namespace {

struct Vector {
  json v = json::parse(tpm_vector("starts.json"));
  std::map<std::string, TpmStartKey> aks{
      {v["key_id"].get<std::string>(), {*from_base64(v["ak_public"].get<std::string>()), "the TPM's EK certificate"}}};
  json starts = v["starts"];
  TpmStartsCheck check(const json& s) const { return check_tpm_starts(s.dump(), aks); }
  std::string bytes(size_t i, const char* member) const { return *from_base64(starts[i][member].get<std::string>()); }
};

std::string flipped(std::string bytes, size_t at) {
  bytes[at] = static_cast<char>(bytes[at] ^ 1);
  return bytes;
}

}  // namespace

TEST_CASE("tpm starts: three starts of swtpm verify, each head a record of the journal", "[tpm]") {
  Vector t;
  auto c = t.check(t.starts);
  REQUIRE(c.problem.empty());
  CHECK(c.counters == std::vector<uint64_t>{1, 2, 3});
  CHECK(c.describe() == "verified (3 starts, counter 1..3, each start the next)");
  CHECK(t.check(json::array({t.starts[2]})).describe() == "verified (1 start, counter 3..3, each start the next)");
  REQUIRE(c.heads.size() == 3);
  CHECK(c.heads[0] == std::pair<uint64_t, std::string>{0, std::string(64, '0')});  // the first start: an empty journal
  for (size_t i = 1; i < 3; ++i)
    CHECK(c.heads[i].second == t.v["record_hashes"][std::to_string(c.heads[i].first)].get<std::string>());
}

TEST_CASE("tpm starts: a start left out is a jump, not a failure", "[tpm]") {
  Vector t;
  json two = json::array({t.starts[0], t.starts[2]});
  auto c = t.check(two);
  REQUIRE(c.problem.empty());
  CHECK(c.describe() == "verified (2 starts, counter 1..3; 1 start is not in this journal (first after 1, next 3): "
                        "a journal restored from an old copy, or starts that did not commit)");
}

TEST_CASE("tpm starts: forged starts are unverifiable, naming the start and why", "[tpm]") {
  Vector t;
  auto forged = [&](size_t i, const std::function<void(json&)>& change) {
    json s = t.starts;
    change(s[i]);
    return t.check(s).problem;
  };
  auto b64 = [](const std::string& bytes) { return to_base64(bytes); };
  CHECK(forged(1, [](json& e) { e["counter"] = 7; }) == "start 2: counter is not the value certify_info holds");
  CHECK(forged(1, [&](json& e) { e["certify_info"] = b64(flipped(t.bytes(1, "certify_info"), 60)); }) ==
        "start 2: certify_signature does not verify with the statement's ak_public");
  CHECK(forged(2, [&](json& e) { e["certify_signature"] = b64(flipped(t.bytes(2, "certify_signature"), 10)); }) ==
        "start 3: certify_signature does not verify with the statement's ak_public");
  CHECK(forged(2, [](json& e) { e["head_hash"] = std::string(64, 'a'); }) ==
        "start 3: head_hash is not the qualifying data of certify_info");
  // Another index's public area (its attributes changed): not the index certified.
  CHECK(forged(0, [&](json& e) { e["nv_public"] = b64(flipped(t.bytes(0, "nv_public"), 9)); }) ==
        "start 1: certify_info certifies another NV index than nv_public");
  CHECK(forged(0, [&](json& e) { e["nv_public"] = b64(t.bytes(0, "nv_public") + "x"); }) ==
        "start 1: nv_public: TPMS_NV_PUBLIC truncated or with bytes after it");
  CHECK(forged(0, [](json& e) { e["key_id"] = std::string(64, 'b'); }) ==
        "start 1: key " + std::string(64, 'b') + " has no verified TPM statement in keys.json");
  CHECK(forged(0, [](json& e) { e["key_id"] = "B"; }) == "start 1: key_id is not 64 lowercase hex digits");
  CHECK(forged(0, [](json& e) { e["counter"] = -1; }) == "start 1: counter is not an unsigned integer");
  CHECK(forged(0, [](json& e) { e["head_seq"] = "0"; }) == "start 1: head_seq is not an unsigned integer");
  CHECK(forged(0, [](json& e) { e["certify_info"] = "not base64!"; }) ==
        "start 1: certify_info is not base64 of at most 1024 bytes");
  CHECK(forged(0, [](json& e) { e["certify_signature"] = std::string(400, 'A'); }) ==
        "start 1: certify_signature is missing, not a string or too long");
  CHECK(forged(0, [](json& e) { e.erase("nv_public"); }) == "start 1: nv_public is missing, not a string or too long");
  CHECK(forged(0, [](json& e) { e = 5; }) == "start 1: not an object");

  json reordered = json::array({t.starts[1], t.starts[0]});
  CHECK(t.check(reordered).problem == "start 2: counter does not increase");
  json twice = json::array({t.starts[0], t.starts[0]});
  CHECK(t.check(twice).problem == "start 2: counter does not increase");
  CHECK(t.check(json::array()).problem == "tpm_starts.json is not a non-empty array");
  CHECK(t.check(json::object()).problem == "tpm_starts.json is not a non-empty array");
  CHECK(check_tpm_starts("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
                         t.aks)
            .problem == "tpm_starts.json is not JSON within the limits of §6.1");
  CHECK(check_tpm_starts(json(std::vector<int>(kMaxTpmStarts + 1, 0)).dump(), t.aks).problem ==
        "tpm_starts.json has more than 100000 entries");
  CHECK(forged(1, [](json& e) { e["head_seq"] = 0; }) ==
        "start 2: head_hash differs from the start before at the same head_seq");
  // A second key whose verified statement names another TPM: its starts are not this counter's.
  auto two_tpms = t.aks;
  two_tpms.emplace(std::string(64, 'c'), TpmStartKey{t.aks.begin()->second.ak_public, "another EK certificate"});
  json mixed = t.starts;
  mixed[1]["key_id"] = std::string(64, 'c');
  CHECK(check_tpm_starts(mixed.dump(), two_tpms).problem == "start 2: another TPM (EK certificate) than the first start's");
  // Another attestation key (the statement's, for another key): no signature verifies.
  std::map<std::string, TpmStartKey> other{{t.v["key_id"].get<std::string>(), {tpm_vector("ak.pub"), "an EK"}}};
  CHECK(check_tpm_starts(t.starts.dump(), other).problem ==
        "start 1: certify_signature does not verify with the statement's ak_public");
}

TEST_CASE("tpm starts: the NV attestation and NV public parsers refuse truncated, padded and mistyped input", "[tpm]") {
  Vector t;
  const std::string info = t.bytes(0, "certify_info");
  auto ok = parse_tpms_attest_nv(info);
  REQUIRE(ok);
  CHECK(ok->contents == std::string("\0\0\0\0\0\0\0\1", 8));
  CHECK(ok->offset == 0);
  CHECK(ok->extra_data == std::string(32, '\0'));
  for (size_t n = 0; n < info.size(); ++n) CHECK_FALSE(parse_tpms_attest_nv(info.substr(0, n)));
  CHECK_FALSE(parse_tpms_attest_nv(info + std::string(1, '\0')));
  CHECK_FALSE(parse_tpms_attest_nv(tpm_vector("attest.bin")));  // TPM2_Certify's, not TPM2_NV_Certify's
  CHECK_FALSE(parse_tpms_attest_certify(info));
  CHECK_FALSE(parse_tpms_attest_nv(std::string(kMaxTpmAttest + 1, 'a')));

  const std::string nv = t.bytes(0, "nv_public");
  auto pub = parse_tpms_nv_public(nv);
  REQUIRE(pub);
  CHECK(pub->index == 0x01000d00);
  CHECK(pub->is_counter());
  CHECK(pub->data_size == 8);
  CHECK(pub->name == ok->index_name);
  for (size_t n = 0; n < nv.size(); ++n) CHECK_FALSE(parse_tpms_nv_public(nv.substr(0, n)));
  std::string with_policy = nv.substr(0, 10) + std::string("\x00\x01p", 3) + nv.substr(12);
  auto policy = parse_tpms_nv_public(with_policy);
  REQUIRE_FALSE(policy);
  CHECK(policy.error().message == "the NV index has an authPolicy");
}
