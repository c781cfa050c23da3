// An MQTT source's intake log (collector/intake_log): what is appended comes back in
// order after a restart, a torn tail ends a segment without losing what is before it,
// and a segment goes only once the journal committed every reading it produced.
#include <catch2/catch.hpp>

#include <fstream>
#include <vector>

#include "mrv/collector/intake_log.hpp"
#include "test_support.hpp"

using mrv::collector::IntakeEntry;
using mrv::collector::IntakeLog;

namespace {

struct Entry {
  int64_t recv_ms;
  std::string topic, payload;
  bool operator==(const Entry&) const = default;
};

std::vector<Entry> replay_all(IntakeLog& log, IntakeLog::Ticket ticket = 0, size_t* torn = nullptr) {
  std::vector<Entry> out;
  auto replayed = log.replay([&](const IntakeEntry& e) {
    out.push_back({e.recv_ms, std::string(e.topic), std::string(e.payload)});
    return ticket;
  });
  REQUIRE(replayed);
  if (torn) *torn = replayed->torn.size();
  return out;
}

size_t files_in(const std::filesystem::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("intake log: entries come back in order after a restart, binary payloads and empty topics included") {
  mrv::test::TempDir tmp;
  auto dir = tmp.path() / "intake";
  std::vector<Entry> written = {{1767225600000, "site/m1/energy", R"({"ts":1,"value":2})"},
                                {-5, "", std::string("\0\xff\n", 3)},
                                {1767225600002, "site/m2/energy", ""}};
  {
    IntakeLog log(dir, false);
    CHECK(replay_all(log).empty());
    for (const Entry& e : written) REQUIRE(log.append(e.recv_ms, e.topic, e.payload));
  }  // no release: as after kill -9
  IntakeLog again(dir, true);
  size_t torn = 9;
  CHECK(replay_all(again, 7, &torn) == written);
  CHECK(torn == 0);
}

TEST_CASE("intake log: a torn or corrupt tail ends the segment and keeps what is before it") {
  mrv::test::TempDir tmp;
  auto dir = tmp.path() / "intake";
  {
    IntakeLog log(dir, false);
    REQUIRE(log.append(1, "a", "first"));
    REQUIRE(log.append(2, "b", "second"));
  }
  auto segment = std::filesystem::directory_iterator(dir)->path();
  auto size = std::filesystem::file_size(segment);
  SECTION("cut inside the last entry") { std::filesystem::resize_file(segment, size - 2); }
  SECTION("a flipped bit in the last entry") {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 1));
    f.put('X');
  }
  IntakeLog again(dir, false);
  size_t torn = 0;
  CHECK(replay_all(again, 0, &torn) == std::vector<Entry>{{1, "a", "first"}});
  CHECK(torn == 1);
}

TEST_CASE("intake log: a segment is deleted only once every reading it produced is committed") {
  mrv::test::TempDir tmp;
  auto dir = tmp.path() / "intake";
  IntakeLog log(dir, false, 64);  // tiny segments: every append past 64 bytes rotates
  REQUIRE(log.append(1, "t", std::string(80, 'x')));
  log.produced(10);
  log.release(9);  // rotates (full), but ticket 10 is not committed
  REQUIRE(log.append(2, "t", "y"));
  log.produced(11);
  CHECK(log.segment_count() == 2);
  log.release(9);
  CHECK(files_in(dir) == 2);
  log.release(10);  // the first is committed; the second is being written
  CHECK(files_in(dir) == 1);
  log.release(11, true);  // a clean stop
  CHECK(files_in(dir) == 0);
  IntakeLog again(dir, false);
  CHECK(replay_all(again).empty());
}

TEST_CASE("intake log: replayed segments stay until their readings are committed, new entries go to a new one") {
  mrv::test::TempDir tmp;
  auto dir = tmp.path() / "intake";
  {
    IntakeLog log(dir, false);
    REQUIRE(log.append(1, "t", "old"));
  }
  IntakeLog log(dir, false);
  CHECK(replay_all(log, 5).size() == 1);
  REQUIRE(log.append(2, "t", "new"));
  log.produced(6);
  log.release(4);
  CHECK(files_in(dir) == 2);
  log.release(5);
  CHECK(files_in(dir) == 1);
  IntakeLog after(dir, false);
  CHECK(replay_all(after) == std::vector<Entry>{{2, "t", "new"}});
}

TEST_CASE("intake log: an unwritable folder is an error naming it, never a crash") {
  mrv::test::TempDir tmp;
  auto file = tmp.path() / "not-a-folder";
  std::ofstream(file) << "x";
  IntakeLog log(file / "intake", false);
  auto appended = log.append(1, "t", "p");
  REQUIRE_FALSE(appended);
  CHECK_THAT(appended.error().to_string(), Catch::Contains("not-a-folder"));
}

TEST_CASE("intake log: a preallocated segment (synchronous full) ends cleanly in its zeros, a torn entry there is seen") {
  mrv::test::TempDir tmp;
  auto dir = tmp.path() / "intake";
  {
    IntakeLog log(dir, true, 4096);
    REQUIRE(log.append(1, "a", "first"));
    REQUIRE(log.append(2, "b", "second"));
  }
  auto segment = std::filesystem::directory_iterator(dir)->path();
  CHECK(std::filesystem::file_size(segment) == 4096);  // zeros beyond the entries
  {
    IntakeLog again(dir, true, 4096);
    size_t torn = 9;
    CHECK(replay_all(again, 0, &torn) == std::vector<Entry>{{1, "a", "first"}, {2, "b", "second"}});
    CHECK(torn == 0);
  }
  // Half an entry written over the zeros (power loss during the write).
  auto end = 8 + 2 * 8 + (10 + 1 + 5) + (10 + 1 + 6);
  {
    std::fstream f(segment, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(end);
    f.write("\x20\0\0\0\x11\x22", 6);
  }
  IntakeLog third(dir, true, 4096);
  size_t torn = 0;
  CHECK(replay_all(third, 0, &torn).size() == 2);
  CHECK(torn == 1);
}

TEST_CASE("intake log: a segment that cannot be created fails the append, and is not tried again at once") {
  mrv::test::TempDir tmp;
  std::ofstream(tmp.path() / "a-file") << "x";
  IntakeLog log(tmp.path() / "a-file" / "intake", true);  // a folder under a file: never creatable
  auto first = log.append(1, "a", "x");
  REQUIRE_FALSE(first);
  CHECK(first.error().to_string().find("intake") != std::string::npos);
  log.produced(5);  // nothing to attribute it to: ignored
  CHECK(log.segment_count() == 0);
  auto second = log.append(2, "a", "y");
  REQUIRE_FALSE(second);
  CHECK(second.error().to_string() == first.error().to_string());
}
