// Site records in the journal: the writer commits them as site-record records and says
// where, an entry id is stored once, they never update point heads or reach the commit
// observer, and the site_records copy is written by the agent's journal and a registry's
// mirror, survives pruning, and arrives with the schema migration.
#include <sqlite3.h>

#include <cstring>
#include <mutex>

#include <catch2/catch.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/journal_writer.hpp"
#include "mrv/core/site_record.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace std::chrono_literals;

namespace {

struct FixedClock : Clock {
  ClockSample now() override { return {1'000'000, 42, ClockSync::synchronised}; }
};

std::string entry_id(int n) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%032x", n);
  return buf;
}

// A note about point m1 (or the whole site), as the writer is handed one.
Reading note(int id, int64_t ts_ms, const std::string& text = "inverter tripped") {
  SiteRecord s;
  s.kind = SiteRecordKind::note;
  s.id = entry_id(id);
  s.entered_by = "Saraa B.";
  s.login = "saraa";
  s.point = "m1";
  s.ts_ms = ts_ms;
  s.details = {{"text", text}};
  auto r = site_record_reading(s);
  REQUIRE(r);
  return *r;
}

AcceptedReading accepted_note(int id, int64_t ts_ms) {
  return AcceptedReading{note(id, ts_ms), ClockSample{ts_ms + 5, 1000, ClockSync::synchronised},
                         RecordType::site_record};
}

void sql(const std::filesystem::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  INFO(message);
  REQUIRE(rc == SQLITE_OK);
}

struct WriterSetup {
  test::TempDir dir;
  FixedClock clock;
  std::optional<JournalWriter> writer;
  std::mutex observed_mutex;
  std::vector<AcceptedReading> observed;

  explicit WriterSetup(std::chrono::milliseconds commit_interval = 20ms) {
    auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
    REQUIRE(j);
    writer.emplace(std::move(*j), WriterOptions{commit_interval, 100, 1000}, clock, [](int, const std::string&) {});
    writer->set_commit_observer([this](std::span<const AcceptedReading> committed) {
      std::lock_guard lock(observed_mutex);
      observed.insert(observed.end(), committed.begin(), committed.end());
    });
  }
};

}  // namespace

TEST_CASE("site records: the writer commits one as a site-record record and says its seq and hash", "[site-record][writer]") {
  WriterSetup setup;
  JournalWriter& w = *setup.writer;
  auto reading = w.submit(test::reading("m1", 1000, "5"));
  REQUIRE(reading);
  REQUIRE(w.wait_committed(*reading, 5s));
  auto ticket = w.submit_site_record(note(1, 9000));  // newer than the reading
  REQUIRE(ticket);
  auto done = w.wait_site_record(*ticket, 5s);
  REQUIRE(done);
  CHECK(done->seq == 2);
  CHECK_FALSE(done->duplicate);
  CHECK_FALSE(w.wait_site_record(*ticket, 1s));  // taken once
  CHECK_FALSE(w.wait_site_record(*reading, 1s));  // a reading's ticket names no site record
  w.stop();

  auto ro = Journal::open_read_only(setup.dir / "journal.db");
  REQUIRE(ro);
  auto stored = ro->record(2);
  REQUIRE(stored);
  REQUIRE(*stored);
  CHECK(to_hex((*stored)->hash) == done->hash_hex);
  auto f = decode_record((*stored)->canonical);
  REQUIRE(f);
  CHECK(f->type == RecordType::site_record);
  CHECK(f->reading.time_source == TimeSource::site_operator);
  CHECK(f->reading.source == "operator:saraa");
  CHECK(f->received.utc_ms == 1'000'000);  // stamped with the agent's clock like a reading
  // Not a reading of m1: its head stays the meter's reading, and the observer saw only that.
  auto last = ro->last_reading("m1");
  REQUIRE(last);
  REQUIRE(*last);
  CHECK((*last)->seq == 1);
  CHECK(setup.observed.size() == 1);
  CHECK(setup.observed[0].type == RecordType::reading);
  auto copies = ro->site_records(UINT64_MAX);
  REQUIRE(copies);
  REQUIRE(copies->size() == 1);
  CHECK((*copies)[0].seq == 2);
  CHECK((*copies)[0].canonical == (*stored)->canonical);
  CHECK((*copies)[0].signature == (*stored)->signature);
  CHECK(ro->site_records(1)->empty());
}

TEST_CASE("site records: the same entry id is stored once, in one batch or later, and answered with the first seq",
          "[site-record][writer]") {
  WriterSetup setup(10s);  // both land in one batch: the wait commits at once
  JournalWriter& w = *setup.writer;
  auto first = w.submit_site_record(note(7, 5000));
  auto again = w.submit_site_record(note(7, 5000));
  REQUIRE(first);
  REQUIRE(again);
  auto a = w.wait_site_record(*first, 5s);
  auto b = w.wait_site_record(*again, 5s);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->seq == 1);
  CHECK_FALSE(a->duplicate);
  CHECK(b->seq == 1);
  CHECK(b->duplicate);
  CHECK(b->hash_hex == a->hash_hex);
  // A retry with other content but the same id is still the same entry.
  auto later = w.submit_site_record(note(7, 6000, "a retry, edited"));
  REQUIRE(later);
  auto c = w.wait_site_record(*later, 5s);
  REQUIRE(c);
  CHECK(c->seq == 1);
  CHECK(c->duplicate);
  CHECK(w.stats().last_seq == 1);
  CHECK(w.stats().duplicates == 2);
}

TEST_CASE("site records: two entries alike in time, point, login and value are both stored", "[site-record][writer]") {
  WriterSetup setup;
  JournalWriter& w = *setup.writer;
  auto a = w.submit_site_record(note(1, 5000));
  auto b = w.submit_site_record(note(2, 5000));
  REQUIRE(a);
  REQUIRE(b);
  auto da = w.wait_site_record(*a, 5s);
  auto db = w.wait_site_record(*b, 5s);
  REQUIRE(da);
  REQUIRE(db);
  CHECK(da->seq == 1);
  CHECK(db->seq == 2);
  CHECK_FALSE(db->duplicate);
  // A meter reading with the same time, point and an empty value is not one of them either.
  Reading gap = test::reading("m1", 5000, "");
  gap.source = "operator:saraa";
  auto g = w.submit(gap);
  REQUIRE(g);
  REQUIRE(w.wait_committed(*g, 5s));
  CHECK(w.stats().last_seq == 3);
}

TEST_CASE("site records: submit refuses a malformed one, naming the field", "[site-record][writer]") {
  WriterSetup setup;
  Reading r = note(1, 5000);
  r.time_source = TimeSource::agent;
  auto refused = setup.writer->submit_site_record(r);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().to_string().starts_with("site record time_source: "));
  // And a reading may not pass for a person's entry.
  Reading posing = test::reading("m1", 1, "2");
  posing.time_source = TimeSource::site_operator;
  auto posed = setup.writer->submit(posing);
  REQUIRE_FALSE(posed);
  CHECK(posed.error().to_string() == "test:m1 time_source: \"operator\" is a person's statement: only site records have it");
}

TEST_CASE("site records: the copy outlives the pruning of uploaded records", "[site-record][journal]") {
  test::TempDir dir;
  auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE(j);
  std::vector<AcceptedReading> batch = {test::accepted("m1", 1, "1"), accepted_note(1, 2), test::accepted("m1", 3, "3")};
  auto out = j->append(batch);
  REQUIRE(out);
  CHECK(out->stored == 3);
  REQUIRE(out->site_records.size() == 1);
  CHECK(out->site_records[0].index == 1);
  CHECK(out->site_records[0].seq == 2);
  REQUIRE(j->set_upload_cursor(3));
  auto pruned = j->prune_receipted();
  REQUIRE(pruned);
  CHECK(*pruned == 3);
  CHECK_FALSE(*j->record(2));
  auto copies = j->site_records(UINT64_MAX);
  REQUIRE(copies);
  REQUIRE(copies->size() == 1);
  auto f = decode_record((*copies)[0].canonical);
  REQUIRE(f);
  CHECK(f->seq == 2);
  // The id is still known after pruning: a retry is still a duplicate.
  auto retry = j->append(std::vector<AcceptedReading>{accepted_note(1, 2)});
  REQUIRE(retry);
  CHECK(retry->stored == 0);
  CHECK(retry->duplicates == 1);
  CHECK(retry->site_records[0].seq == 2);
}

TEST_CASE("site records: a registry's mirror fills its copy as it ingests them", "[site-record][journal]") {
  test::TempDir dir;
  std::vector<StoredRecord> records;
  {
    auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
    REQUIRE(j);
    REQUIRE(j->append(std::vector<AcceptedReading>{test::accepted("m1", 1, "1"), accepted_note(3, 2)}));
    REQUIRE(j->for_each_record(1, 10, [&](const StoredRecord& r) { records.push_back(r); }));
  }
  auto mirror = Journal::open_mirror(dir / "mirror.db");
  REQUIRE(mirror);
  std::vector<MirrorRecord> in;
  for (const StoredRecord& r : records) {
    auto f = decode_record(r.canonical);
    REQUIRE(f);
    MirrorRecord m;
    m.seq = r.seq;
    m.canonical = r.canonical;
    m.signature = r.signature;
    std::memcpy(m.hash.data(), r.hash.data(), m.hash.size());
    m.point = f->reading.point_id;
    m.source = f->reading.source;
    m.value = f->reading.value;
    m.ts_ms = f->reading.ts_ms;
    in.push_back(std::move(m));
  }
  REQUIRE(mirror->ingest(in));
  auto copies = mirror->site_records(UINT64_MAX);
  REQUIRE(copies);
  REQUIRE(copies->size() == 1);
  CHECK((*copies)[0].seq == 2);
  CHECK((*copies)[0].canonical == records[1].canonical);
}

TEST_CASE("site records: a journal of schema 3 reads as having none, and migrates to 4 when opened for writing",
          "[site-record][journal]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    REQUIRE(j->append(std::vector<AcceptedReading>{test::accepted("m1", 1, "1")}));
  }
  sql(o.path, "DROP TABLE site_records; DROP TABLE tpm_starts; DROP TABLE cosignatures; PRAGMA user_version = 3;");
  {
    auto ro = Journal::open_read_only(o.path);
    REQUIRE(ro);
    auto none = ro->site_records(UINT64_MAX);
    REQUIRE(none);
    CHECK(none->empty());
  }
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  auto out = j->append(std::vector<AcceptedReading>{accepted_note(1, 2)});
  REQUIRE(out);
  CHECK(out->stored == 1);
  CHECK(j->site_records(UINT64_MAX)->size() == 1);
}

TEST_CASE("tpm starts: the journal keeps a start once per counter value; a journal of schema 4 has none",
          "[tpm][journal]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    CHECK(j->last_tpm_counter().value() == std::nullopt);
    REQUIRE(j->add_tpm_start({7, 0, R"({"counter":7})"}));
    REQUIRE(j->add_tpm_start({9, 12, R"({"counter":9})"}));
    auto again = j->add_tpm_start({9, 15, "{}"});
    REQUIRE_FALSE(again);  // a counter value is certified once: a second row would be a forgery or a bug
    CHECK(again.error().to_string().find("TPM start 9") != std::string::npos);
    CHECK_FALSE(j->add_tpm_start({uint64_t{1} << 63, 0, "{}"}));
    CHECK(j->last_tpm_counter().value() == std::optional<uint64_t>(9));
    auto all = j->tpm_starts(0, UINT64_MAX);
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK((*all)[1].head_seq == 12);
    CHECK((*all)[1].entry == R"({"counter":9})");
    CHECK(j->tpm_starts(1, 11)->empty());
    CHECK(j->tpm_starts(12, 12)->size() == 1);
  }
  sql(o.path, "DROP TABLE tpm_starts; DROP TABLE cosignatures; PRAGMA user_version = 4;");
  {
    auto ro = Journal::open_read_only(o.path);
    REQUIRE(ro);
    CHECK(ro->tpm_starts(0, UINT64_MAX)->empty());
    CHECK(ro->last_tpm_counter().value() == std::nullopt);
  }
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  REQUIRE(j->add_tpm_start({10, 0, "{}"}));  // migrated to schema 5
  CHECK(j->last_tpm_counter().value() == std::optional<uint64_t>(10));
}
