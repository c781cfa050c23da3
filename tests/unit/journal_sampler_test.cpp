#include <catch2/catch.hpp>

#include <vector>

#include "journal_sampler.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {

constexpr int64_t kT0 = 1'767'225'600'000;

JournalSampler::Options by_hand() {
  JournalSampler::Options o;
  o.own_thread = false;
  o.min_size_interval = std::chrono::milliseconds(0);
  return o;
}

}  // namespace

TEST_CASE("sampler: sizes and record count come from a read-only handle", "[http]") {
  test::TempDir dir;
  auto journal = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE(journal);
  std::vector<AcceptedReading> batch{test::accepted("m1", kT0, "1"), test::accepted("m1", kT0 + 1000, "2"),
                                     test::accepted("m1", kT0 + 2000, "3")};
  REQUIRE(journal->append(batch));
  JournalSampler sampler(dir / "journal.db", 5 << 20, by_hand());
  CHECK_FALSE(sampler.sizes().known);
  sampler.sample();
  JournalSizes s = sampler.sizes();
  REQUIRE(s.known);
  CHECK(s.record_count == 3);
  CHECK(s.used_bytes > 0);
  CHECK(s.file_bytes >= s.used_bytes);
  CHECK(s.quota_bytes == 5u << 20);
  CHECK(s.sampled_ms > 0);
  CHECK(sampler.oldest_waiting().seq == 0);  // no upload: nothing looked up
}

TEST_CASE("sampler: the oldest record after the upload cursor and when it was accepted", "[http]") {
  test::TempDir dir;
  auto journal = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE(journal);
  std::vector<AcceptedReading> batch{test::accepted("m1", kT0, "1"), test::accepted("m1", kT0 + 1000, "2")};
  REQUIRE(journal->append(batch));
  JournalSampler sampler(dir / "journal.db", 1 << 20, by_hand());
  sampler.set_upload_cursor(1);
  sampler.sample();
  CHECK(sampler.oldest_waiting().seq == 2);
  CHECK(sampler.oldest_waiting().received_ms == kT0 + 1000 + 5);  // test::accepted: received 5 ms after
  sampler.set_upload_cursor(2);  // everything receipted: nothing waits yet
  sampler.sample();
  CHECK(sampler.oldest_waiting().seq == 3);
  CHECK(sampler.oldest_waiting().received_ms == 0);
  std::vector<AcceptedReading> more{test::accepted("m1", kT0 + 9000, "4")};
  REQUIRE(journal->append(more));
  sampler.sample();  // looked up again until found
  CHECK(sampler.oldest_waiting().received_ms == kT0 + 9000 + 5);
}

TEST_CASE("sampler: a missing journal is an error in sizes, not a crash", "[http]") {
  test::TempDir dir;
  JournalSampler sampler(dir / "none.db", 1 << 20, by_hand());
  sampler.set_upload_cursor(0);
  sampler.sample();
  CHECK_FALSE(sampler.sizes().known);
  CHECK(sampler.sizes().error.find("no journal here") != std::string::npos);
}
