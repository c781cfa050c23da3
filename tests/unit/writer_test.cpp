#include <sqlite3.h>

#include <algorithm>

#include <catch2/catch.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/journal_writer.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace std::chrono_literals;

namespace {
struct FixedClock : Clock {
  ClockSample now() override { return {1'000'000, 42, ClockSync::synchronised}; }
};
struct Logged {
  std::mutex m;
  std::vector<std::string> lines;
  JournalWriter::LogFn fn() {
    return [this](int, const std::string& s) {
      std::lock_guard l(m);
      lines.push_back(s);
    };
  }
};
// A journal in a temporary folder with its writer, a fixed clock and captured logs.
struct WriterSetup {
  test::TempDir dir;
  FixedClock clock;
  Logged log;
  std::optional<JournalWriter> writer;

  explicit WriterSetup(WriterOptions options, uint64_t quota_bytes = 1ull << 30) {
    auto o = test::journal_options(dir);
    o.quota_bytes = quota_bytes;
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    writer.emplace(std::move(*j), options, clock, log.fn());
  }
};
}  // namespace

TEST_CASE("writer: a submitted reading is committed within the commit interval", "[writer]") {
  WriterSetup setup(WriterOptions{20ms, 100, 1000});
  JournalWriter& w = *setup.writer;
  auto t = w.submit(test::reading("m1", 1, "1.5"));
  REQUIRE(t);
  CHECK(w.wait_committed(*t, 5s));
  auto ro = Journal::open_read_only(setup.dir / "journal.db");
  REQUIRE(ro);
  CHECK(ro->stats()->last_seq == 1);
}

TEST_CASE("writer: stop commits everything already accepted", "[writer]") {
  WriterSetup setup(WriterOptions{10s, 100000, 100000});
  JournalWriter& w = *setup.writer;
  for (int i = 0; i < 2500; ++i) REQUIRE(w.submit(test::reading("m1", i, std::to_string(i))));
  w.stop();
  CHECK(w.stats().stored == 2500);
  CHECK_FALSE(w.submit(test::reading("m1", 99999, "1")));
  CHECK(Journal::open_read_only(setup.dir / "journal.db")->stats()->last_seq == 2500);
}

TEST_CASE("writer: a full queue pushes back instead of dropping", "[writer]") {
  WriterSetup setup(WriterOptions{10s, 100000, 10});
  JournalWriter& w = *setup.writer;
  int accepted = 0, refused = 0;
  for (int i = 0; i < 20; ++i) {
    auto t = w.submit(test::reading("m1", i, "1"));
    if (t) ++accepted;
    else {
      ++refused;
      CHECK(t.error().code == ErrorCode::busy);
    }
  }
  CHECK(accepted == 10);
  CHECK(refused == 10);
  w.stop();
  CHECK(w.stats().stored == 10);
  CHECK(w.stats().refused == 10);
}

TEST_CASE("writer: an invalid reading is refused at submit with its source named", "[writer]") {
  WriterSetup setup(WriterOptions{});
  JournalWriter& w = *setup.writer;
  auto t = w.submit(test::reading("m1", 1, "NaN"));
  REQUIRE_FALSE(t);
  CHECK(t.error().to_string() == "test:m1 value: 'NaN' is not decimal text");
}

TEST_CASE("writer: over quota with nothing uploaded, it refuses new readings and says so", "[writer][quota]") {
  WriterSetup setup(WriterOptions{5ms, 100, 100000, 50ms}, 464 * 1024);  // each table holds at least one 16 KiB page
  JournalWriter& w = *setup.writer;
  JournalWriter::Ticket last = 0;
  for (int i = 0; i < 1000; ++i) last = *w.submit(test::reading("m1", i, std::to_string(i)));
  REQUIRE(w.wait_committed(last, 10s));
  // The quota is checked about once a second; keep the writer busy until it has been.
  for (int i = 0; i < 300 && w.stats().accepting; ++i) {
    (void)w.submit(test::reading("m1", 2000 + i, "1"));
    std::this_thread::sleep_for(10ms);
  }
  auto refused = w.submit(test::reading("m1", 5000, "1"));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::storage_full);
  CHECK_FALSE(w.stats().accepting);
  {
    std::lock_guard l(setup.log.m);
    CHECK(std::any_of(setup.log.lines.begin(), setup.log.lines.end(),
                      [](auto& s) { return s.find("journal is full") != std::string::npos; }));
  }
  // The registry receipts everything: space can be freed, and the writer resumes.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((setup.dir / "journal.db").c_str(), &db) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  REQUIRE(sqlite3_exec(db, "INSERT INTO cursors VALUES ('registry', 1000)", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  sqlite3_close(db);
  for (int i = 0; i < 200 && !w.stats().accepting; ++i) std::this_thread::sleep_for(10ms);
  CHECK(w.stats().accepting);
  CHECK(w.submit(test::reading("m1", 6000, "1")));
  w.stop();
  auto st = w.stats();
  CHECK(st.stored == st.submitted);  // everything accepted was kept
  CHECK(st.refused >= 1);
}

TEST_CASE("writer: a requested checkpoint is made at once, and one at stop", "[writer][tree]") {
  WriterSetup setup(WriterOptions{5ms, 100, 1000, 50ms});
  JournalWriter& w = *setup.writer;
  JournalWriter::Ticket last = 0;
  for (int i = 0; i < 30; ++i) last = *w.submit(test::reading("m1", i, std::to_string(i)));
  REQUIRE(w.wait_committed(last, 10s));
  w.request_checkpoint("upload");
  auto reasons = [&] {
    auto j = Journal::open_read_only(setup.dir / "journal.db");
    std::vector<std::string> out;
    auto cps = j->checkpoints(0, UINT64_MAX);
    REQUIRE(cps);
    for (const auto& c : *cps) out.push_back(c.reason + "@" + std::to_string(c.checkpoint.tree_size));
    return out;
  };
  for (int i = 0; i < 200 && reasons().empty(); ++i) std::this_thread::sleep_for(10ms);
  CHECK(reasons() == std::vector<std::string>{"upload@30"});
  last = *w.submit(test::reading("m1", 100, "1"));
  REQUIRE(w.wait_committed(last, 10s));
  w.stop();
  CHECK(reasons() == std::vector<std::string>{"upload@30", "stop@31"});
}

TEST_CASE("writer: a receipt moves the upload cursor, forward only and never past the head", "[writer][upload]") {
  WriterSetup setup(WriterOptions{5ms, 100, 1000, 50ms});
  JournalWriter& w = *setup.writer;
  JournalWriter::Ticket last = 0;
  for (int i = 0; i < 20; ++i) last = *w.submit(test::reading("m1", i, std::to_string(i)));
  REQUIRE(w.wait_committed(last, 10s));
  auto cursor = [&] {
    auto j = Journal::open_read_only(setup.dir / "journal.db");
    return j->stats()->upload_cursor;
  };
  w.record_receipt(12);
  for (int i = 0; i < 200 && cursor() != 12; ++i) std::this_thread::sleep_for(10ms);
  CHECK(cursor() == 12);
  w.record_receipt(7);  // an older receipt: no step back
  w.record_receipt(500);  // beyond the head: clamped to it
  w.stop();
  CHECK(cursor() == 20);
}

TEST_CASE("writer: an upload cursor that cannot be stored is retried, not lost", "[writer][upload]") {
  WriterSetup setup(WriterOptions{5ms, 100, 1000, 50ms});
  JournalWriter& w = *setup.writer;
  JournalWriter::Ticket last = 0;
  for (int i = 0; i < 10; ++i) last = *w.submit(test::reading("m1", i, std::to_string(i)));
  REQUIRE(w.wait_committed(last, 10s));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((setup.dir / "journal.db").c_str(), &db) == SQLITE_OK);
  auto exec = [&](const char* sql) { REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK); };
  exec("CREATE TRIGGER full BEFORE INSERT ON cursors BEGIN SELECT RAISE(FAIL, 'disk full'); END");
  auto cursor = [&] {
    auto j = Journal::open_read_only(setup.dir / "journal.db");
    return j->stats()->upload_cursor;
  };
  w.record_receipt(8);
  std::this_thread::sleep_for(150ms);  // some failed tries
  CHECK(cursor() == 0);
  exec("DROP TRIGGER full");
  sqlite3_close(db);
  for (int i = 0; i < 200 && cursor() != 8; ++i) std::this_thread::sleep_for(10ms);
  CHECK(cursor() == 8);
  CHECK(w.stats().accepting);  // readings were never refused for it
}

TEST_CASE("writer: the commit observer sees what was stored, not the duplicates skipped", "[writer]") {
  WriterSetup setup(WriterOptions{5ms, 100, 1000});
  JournalWriter& w = *setup.writer;
  std::mutex m;
  std::vector<std::string> seen;
  w.set_commit_observer([&](std::span<const AcceptedReading> stored) {
    std::lock_guard l(m);
    for (const auto& a : stored) seen.push_back(a.reading.value);
  });
  REQUIRE(w.wait_committed(*w.submit(test::reading("m1", 1, "1")), 5s));
  // The same reading again (a redelivery) beside a new one, in one batch.
  w.submit(test::reading("m1", 1, "1")).value();
  REQUIRE(w.wait_committed(*w.submit(test::reading("m1", 2, "2")), 5s));
  CHECK(w.stats().duplicates == 1);
  std::lock_guard l(m);
  CHECK(seen == std::vector<std::string>{"1", "2"});
}

TEST_CASE("writer: reconfigure commits the queue under the old config, then records name the new one",
          "[writer][reload]") {
  WriterSetup setup(WriterOptions{10s, 100000, 100000});  // nothing commits by deadline alone
  JournalWriter& w = *setup.writer;
  for (int i = 0; i < 50; ++i) REQUIRE(w.submit(test::reading("m1", i, std::to_string(i))));
  const std::string fresh(64, 'd');
  REQUIRE(w.reconfigure(fresh, "[site]\nid = \"test-site\"\n# reloaded\n"));
  CHECK(w.stats().stored == 50);  // the queue went first
  CHECK(w.stats().config_hash_hex == fresh);
  REQUIRE(w.submit(test::reading("m1", 50, "50")));
  w.stop();
  auto ro = Journal::open_read_only(setup.dir / "journal.db");
  REQUIRE(ro);
  std::vector<std::string> configs;
  REQUIRE(ro->for_each_record(
      1, 51, [&](const StoredRecord& r) { configs.push_back(decode_record(r.canonical)->config_hash_hex); }));
  REQUIRE(configs.size() == 51);
  CHECK(std::count(configs.begin(), configs.end(), std::string(64, 'c')) == 50);
  CHECK(configs.back() == fresh);
  CHECK(ro->config_text(fresh).value() == std::optional<std::string>("[site]\nid = \"test-site\"\n# reloaded\n"));
}

TEST_CASE("writer: reconfigure while commits fail gives up in time and keeps the old config", "[writer][reload]") {
  WriterSetup setup(WriterOptions{5ms, 100, 1000, 20ms});
  JournalWriter& w = *setup.writer;
  REQUIRE(w.wait_committed(*w.submit(test::reading("m1", 0, "0")), 5s));
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((setup.dir / "journal.db").c_str(), &db) == SQLITE_OK);
  auto exec = [&](const char* sql) { REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK); };
  exec("CREATE TRIGGER full BEFORE INSERT ON records BEGIN SELECT RAISE(FAIL, 'disk full'); END");
  REQUIRE(w.submit(test::reading("m1", 1, "1")));
  auto switched = w.reconfigure(std::string(64, 'd'), "[site]\n", 300ms);
  REQUIRE_FALSE(switched);
  CHECK(switched.error().code == ErrorCode::busy);
  CHECK(w.stats().config_hash_hex == std::string(64, 'c'));
  exec("DROP TRIGGER full");
  sqlite3_close(db);
  w.stop();  // the held reading is committed, under the old config
  CHECK(w.stats().held == 0);
  CHECK(w.stats().stored == 2);
}

// Issue 14: a wake-up with nothing queued (a receipt, a reload) is handled at once. The
// pause between retries (here an hour) is for failing commits and a full journal only.
TEST_CASE("writer: a reload with nothing queued switches at once, not after the retry pause",
          "[writer][reload]") {
  WriterSetup setup(WriterOptions{50ms, 100, 1000, 1h});
  JournalWriter& w = *setup.writer;
  REQUIRE(w.wait_committed(*w.submit(test::reading("m1", 0, "0")), 5s));
  const std::string fresh(64, 'd');
  REQUIRE(w.reconfigure(fresh, "[site]\n", 5s));
  CHECK(w.stats().config_hash_hex == fresh);
  REQUIRE(w.reconfigure(std::string(64, 'c'), "[site]\n", 5s));  // and back, at once again
}

TEST_CASE("writer: a receipt does not hold back the readings that follow it", "[writer][upload]") {
  WriterSetup setup(WriterOptions{50ms, 100, 1000, 1h});
  JournalWriter& w = *setup.writer;
  REQUIRE(w.wait_committed(*w.submit(test::reading("m1", 0, "0")), 5s));
  auto cursor = [&] { return Journal::open_read_only(setup.dir / "journal.db")->stats()->upload_cursor; };
  w.record_receipt(1);
  for (int i = 0; i < 200 && cursor() != 1; ++i) std::this_thread::sleep_for(10ms);
  CHECK(cursor() == 1);
  CHECK(w.wait_committed(*w.submit(test::reading("m1", 1, "1")), 5s));
}

TEST_CASE("writer: waking for a receipt or a reload never says the journal is under its quota again",
          "[writer][quota]") {
  WriterSetup setup(WriterOptions{5ms, 100, 1000, 20ms});
  JournalWriter& w = *setup.writer;
  REQUIRE(w.wait_committed(*w.submit(test::reading("m1", 0, "0")), 5s));
  w.record_receipt(1);
  REQUIRE(w.reconfigure(std::string(64, 'd'), "[site]\n", 5s));
  REQUIRE(w.wait_committed(*w.submit(test::reading("m1", 1, "1")), 5s));
  w.stop();
  std::lock_guard l(setup.log.m);
  for (const auto& line : setup.log.lines) CHECK(line.find("under its quota again") == std::string::npos);
}
