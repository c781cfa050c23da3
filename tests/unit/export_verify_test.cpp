#include <catch2/catch.hpp>

#include "mrv/evidence/export_file.hpp"
#include "mrv/core/time_text.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::evidence;

namespace {
// A journal of 6 readings exported to NDJSON lines (header first).
struct ExportFixture {
  test::TempDir dir;
  std::vector<std::string> lines;
  std::vector<PublicKey> pinned;

  ExportFixture() {
    auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
    REQUIRE(j);
    std::vector<AcceptedReading> batch;
    for (int i = 0; i < 6; ++i) batch.push_back(test::accepted("m1", 1000 + i, std::to_string(i)));
    REQUIRE(j->append(batch));
    auto ro = Journal::open_read_only(dir / "journal.db");
    auto summary = write_export(*ro, "test-site", 0, 10'000, dir / "out.ndjson");
    REQUIRE(summary);
    CHECK(summary->records == 6);
    std::istringstream in(test::read_text(dir / "out.ndjson"));
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    pinned.push_back(*PublicKey::from_pem(test::test_signer(dir).public_pem()));
  }
  VerifyReport verify() const {
    std::string text;
    for (const auto& l : lines) text += l + "\n";
    std::istringstream in(text);
    return verify_export(in, pinned);
  }
};
}  // namespace

TEST_CASE("export: an untouched export verifies with the pinned key", "[export]") {
  ExportFixture f;
  REQUIRE(f.lines.size() == 7);
  auto r = f.verify();
  CHECK(r.ok());
  CHECK(r.records == 6);
  CHECK(r.first_seq == 1);
  CHECK(r.last_seq == 6);
}

TEST_CASE("verify: one byte changed in a record fails, naming the record", "[export]") {
  ExportFixture f;
  auto pos = f.lines[3].find("\\\"value\\\":\\\"2\\\"");
  REQUIRE(pos != std::string::npos);
  f.lines[3][pos + 12] = '7';
  auto r = f.verify();
  REQUIRE_FALSE(r.ok());
  CHECK(*r.failure == "line 4 (seq 3): hash does not match the record");
}

TEST_CASE("verify: one record removed fails at the gap", "[export]") {
  ExportFixture f;
  f.lines.erase(f.lines.begin() + 4);
  auto r = f.verify();
  REQUIRE_FALSE(r.ok());
  CHECK(*r.failure == "line 5 (seq 5): sequence gap or reorder: expected seq 4");
}

TEST_CASE("verify: the last record removed fails against the header", "[export]") {
  ExportFixture f;
  f.lines.pop_back();
  auto r = f.verify();
  REQUIRE_FALSE(r.ok());
  CHECK(r.failure->find("records missing at an end") != std::string::npos);
}

TEST_CASE("verify: two records swapped fail", "[export]") {
  ExportFixture f;
  std::swap(f.lines[2], f.lines[3]);
  auto r = f.verify();
  REQUIRE_FALSE(r.ok());
  CHECK(*r.failure == "line 3 (seq 3): sequence gap or reorder: expected seq 2");
}

TEST_CASE("verify: a wrong public key fails on the first record", "[export]") {
  ExportFixture f;
  f.pinned.clear();
  f.pinned.push_back(*PublicKey::from_pem(Signer::generate(Algorithm::ed25519)->public_pem()));
  auto r = f.verify();
  REQUIRE_FALSE(r.ok());
  CHECK(r.failure->rfind("line 2 (seq 1): signed by key ", 0) == 0);
}

TEST_CASE("verify: garbage, hostile headers and an empty file fail without a crash", "[export]") {
  ExportFixture f;
  auto verify_text = [&](const std::string& text) {
    std::istringstream in(text);
    return verify_export(in, f.pinned);
  };
  CHECK(*verify_text("").failure == "line 0: empty file: no export header");
  CHECK_FALSE(verify_text(std::string("\x00\xff{{{\n[1,2]\n", 11)).ok());
  for (const char* header : {"{\"format\":1}", "{\"format\":\"mrv-export/1\",\"keys\":[1]}",
                             "{\"format\":\"mrv-export/1\",\"first_seq\":\"x\",\"last_seq\":1}",
                             "[]", "null"})
    CHECK(*verify_text(std::string(header) + "\n").failure == "line 1: not an mrv-export/1 header");
  std::istringstream in(f.lines[0] + "\n");
  CHECK(*verify_export(in, {}).failure == "line 0: no public key pinned: nothing to verify against");
  f.lines[2] = "{\"seq\":2,\"record\":5}";
  CHECK(*f.verify().failure == "line 3: not a record line (seq, record, hash, signature)");
  f.lines[2] = "{\"seq\":2,\"record\":\"x\",\"hash\":\"y\",\"signature\":\"***\"}";
  CHECK(*f.verify().failure == "line 3 (seq 2): signature is not base64");
}

TEST_CASE("verify: the failure report counts only what verified before it", "[export]") {
  ExportFixture f;
  f.lines.erase(f.lines.begin() + 4);
  auto r = f.verify();
  CHECK(r.records == 3);
  CHECK(r.first_seq == 1);
  CHECK(r.last_seq == 3);
}

TEST_CASE("time: export bounds parse as dates, RFC 3339 and epoch ms", "[export]") {
  CHECK(*parse_time_ms("2026-01-01") == 1767225600000);
  CHECK(*parse_time_ms("2026-01-01T00:00:00Z") == 1767225600000);
  CHECK(*parse_time_ms("2026-01-01T09:00:00.250+09:00") == 1767225600250);
  CHECK(*parse_time_ms("1767225600000") == 1767225600000);
  for (const char* bad : {"", "yesterday", "2026-13-01", "2026-01-01T00:00:00", "2026-01-01 00:00Z",
                          "2026-01-01T00:00:00+ab:cd", "99999999999999999999999"})
    CHECK_FALSE(parse_time_ms(bad));
}
