#include <catch2/catch.hpp>

#include "mrv/uploader/upload_batch.hpp"
#include "test_support.hpp"

using namespace mrv;

TEST_CASE("upload: batches follow the cursor, which moves only on a receipt", "[upload]") {
  test::TempDir dir;
  auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE(j);
  std::vector<AcceptedReading> batch;
  for (int i = 0; i < 25; ++i) batch.push_back(test::accepted("m1", i, std::to_string(i)));
  REQUIRE(j->append(batch));

  auto b1 = uploader::next_batch(*j, 10, 1 << 20);
  REQUIRE(b1);
  CHECK(b1->first_seq == 1);
  CHECK(b1->last_seq == 10);
  auto unreceipted = uploader::next_batch(*j, 10, 1 << 20);
  CHECK(unreceipted->first_seq == 1);  // no receipt: the same batch again
  REQUIRE(uploader::acknowledge(*j, *b1));
  auto b2 = uploader::next_batch(*j, 100, 1 << 20);
  CHECK(b2->first_seq == 11);
  CHECK(b2->last_seq == 25);
  auto small = uploader::next_batch(*j, 100, 1);  // the byte limit still lets one through
  CHECK(small->records.size() == 1);
  REQUIRE(uploader::acknowledge(*j, *b2));
  CHECK(uploader::next_batch(*j, 10, 1 << 20)->records.empty());
}

TEST_CASE("upload: a seq gap left by a declared break does not stall the uploader", "[upload]") {
  test::TempDir dir;
  auto append = [&](int64_t ts, int n) {
    auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
    REQUIRE(j);
    std::vector<AcceptedReading> batch;
    for (int i = 0; i < n; ++i) batch.push_back(test::accepted("m1", ts + i, "1"));
    REQUIRE(j->append(batch));
  };
  append(0, 3);
  std::filesystem::copy_file(dir / "journal.db", dir / "old.db");
  append(100, 50);  // seq 4..53, then the journal is rolled back to seq 3
  std::filesystem::copy_file(dir / "old.db", dir / "journal.db",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(dir / "journal.db-wal");
  auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE(j);  // new segment: seq 54 follows seq 3
  REQUIRE(uploader::acknowledge(*j, *uploader::next_batch(*j, 10, 1 << 20)));  // seq 1..3
  auto after_gap = uploader::next_batch(*j, 10, 1 << 20);
  REQUIRE(after_gap);
  CHECK(after_gap->first_seq == 54);
  CHECK(after_gap->records.size() == 1);
}
