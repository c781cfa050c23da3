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
