#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace mrv;

namespace {
void fill(Journal& j, int64_t& ts, int batches) {
  for (int b = 0; b < batches; ++b) {
    std::vector<AcceptedReading> batch;
    for (int i = 0; i < 500; ++i, ++ts) batch.push_back(test::accepted("m1", ts, std::to_string(ts)));
    REQUIRE(j.append(batch));
  }
}
}  // namespace

TEST_CASE("quota: records not yet uploaded are never pruned", "[quota]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  o.quota_bytes = 512 * 1024;
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  int64_t ts = 0;
  fill(*j, ts, 4);  // about 1.5 MiB of records
  auto under = j->enforce_quota();
  REQUIRE(under);
  CHECK_FALSE(*under);
  auto st = j->stats();
  CHECK(st->record_count == 2000);
  CHECK(st->first_seq == 1);
}

TEST_CASE("quota: uploaded records are pruned oldest first until under quota", "[quota]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  o.quota_bytes = 512 * 1024;
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  int64_t ts = 0;
  fill(*j, ts, 4);
  REQUIRE(j->set_upload_cursor(1900));
  auto under = j->enforce_quota();
  REQUIRE(under);
  CHECK(*under);
  auto st = j->stats();
  CHECK(st->used_bytes <= o.quota_bytes);
  CHECK(st->first_seq > 1);
  CHECK(st->first_seq <= 1901);
  CHECK(st->last_seq == 2000);  // every record not uploaded is still there

  // The chain goes on from the pruned head, also after a reopen.
  auto head = st->head_hash_hex;
  j = tl::unexpected(Error{ErrorCode::not_found, "", "closed"});  // release the writer lock
  j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  CHECK(j->chain_check_at_open().intact);
  CHECK(j->last_seq() == 2000);
}

TEST_CASE("quota: when everything was uploaded and pruned the chain continues from meta", "[quota]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  o.quota_bytes = 1;  // forces pruning of all that is uploaded
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  int64_t ts = 0;
  fill(*j, ts, 1);
  std::string head = j->stats()->head_hash_hex;
  REQUIRE(j->set_upload_cursor(1'000'000));  // capped at the head: 500
  auto under = j->enforce_quota();
  REQUIRE(under);
  CHECK(j->stats()->record_count == 0);
  j = tl::unexpected(Error{ErrorCode::not_found, "", "closed"});  // release the writer lock
  j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  CHECK(j->chain_check_at_open().intact);
  CHECK(j->last_seq() == 500);
  std::vector<AcceptedReading> batch{test::accepted("m1", 99999, "1")};
  REQUIRE(j->append(batch));
  bool seen = false;
  REQUIRE(j->for_each_record(501, 501, [&](const StoredRecord& r) {
    seen = true;
    CHECK(r.canonical.find("\"prev\":\"" + head + "\"") != std::string::npos);
  }));
  CHECK(seen);
}
