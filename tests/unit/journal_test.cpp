#include <sqlite3.h>

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "mrv/core/canonical.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {
Journal open_journal(const test::TempDir& dir, ChainBreakPolicy policy = ChainBreakPolicy::new_segment) {
  auto o = test::journal_options(dir);
  o.on_chain_break = policy;
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  if (!j) throw std::runtime_error(j.error().to_string());
  return std::move(*j);
}

void append(Journal& j, int64_t first_ts, int count) {
  std::vector<AcceptedReading> batch;
  for (int i = 0; i < count; ++i)
    batch.push_back(test::accepted("m1", first_ts + i, std::to_string(100 + first_ts + i)));
  auto r = j.append(batch);
  if (!r) throw std::runtime_error(r.error().to_string());
}

std::vector<RecordFields> all_records(Journal& j) {
  std::vector<RecordFields> out;
  REQUIRE(j.for_each_record(0, UINT64_MAX >> 1, [&](const StoredRecord& r) {
    out.push_back(*decode_record(r.canonical));
  }));
  return out;
}

void sql(const std::filesystem::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}
}  // namespace

TEST_CASE("journal: records are numbered from 1 and each links to the one before", "[journal]") {
  test::TempDir dir;
  Journal j = open_journal(dir);
  append(j, 1000, 3);
  append(j, 2000, 2);
  auto recs = all_records(j);
  REQUIRE(recs.size() == 5);
  CHECK(recs[0].prev_hash_hex == kGenesisPrevHash);
  std::vector<std::string> hashes;
  REQUIRE(j.for_each_record(1, 5, [&](const StoredRecord& r) {
    CHECK(to_hex(sha256(r.canonical)) == to_hex(r.hash));
    hashes.push_back(to_hex(r.hash));
  }));
  for (size_t i = 0; i < recs.size(); ++i) {
    CHECK(recs[i].seq == i + 1);
    if (i > 0) CHECK(recs[i].prev_hash_hex == hashes[i - 1]);
    CHECK(recs[i].site_id == "test-site");
    CHECK(recs[i].boot_id == "boot-1");
    CHECK(recs[i].received.sync == ClockSync::synchronised);
  }
}

TEST_CASE("journal: the chain and sequence continue across a reopen", "[journal]") {
  test::TempDir dir;
  {
    Journal j = open_journal(dir);
    append(j, 1000, 4);
  }
  Journal j = open_journal(dir);
  CHECK(j.chain_check_at_open().intact);
  CHECK(j.last_seq() == 4);
  append(j, 5000, 1);
  auto recs = all_records(j);
  REQUIRE(recs.size() == 5);
  CHECK(recs[4].type == RecordType::reading);
  CHECK(recs[4].seq == 5);
  auto tail = j.check_tail(100);
  REQUIRE(tail);
  CHECK(tail->intact);
}

TEST_CASE("journal: a redelivered reading is stored once", "[journal]") {
  test::TempDir dir;
  Journal j = open_journal(dir);
  std::vector<AcceptedReading> batch{test::accepted("m1", 1, "5"), test::accepted("m1", 1, "5"),
                                     test::accepted("m1", 1, "6"), test::accepted("m2", 1, "5")};
  auto r = j.append(batch);
  REQUIRE(r);
  CHECK(r->stored == 3);
  CHECK(r->duplicates == 1);
  std::vector<AcceptedReading> again{test::accepted("m1", 1, "5")};
  r = j.append(again);
  REQUIRE(r);
  CHECK(r->stored == 0);
  CHECK(r->duplicates == 1);
  CHECK(j.last_seq() == 3);
}

TEST_CASE("journal: an edited record is found at open and declared in a new segment", "[journal]") {
  test::TempDir dir;
  {
    Journal j = open_journal(dir);
    append(j, 1000, 5);
  }
  sql(dir / "journal.db",
      "UPDATE records SET canonical = replace(canonical, '\"value\":\"1103\"', '\"value\":\"9103\"') "
      "WHERE seq = 4");
  SECTION("policy refuse: the journal does not open") {
    auto o = test::journal_options(dir);
    o.on_chain_break = ChainBreakPolicy::refuse;
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE_FALSE(j);
    CHECK(j.error().code == ErrorCode::corruption);
    CHECK(j.error().message.find("record 4: hash does not match the record") != std::string::npos);
  }
  SECTION("policy new-segment: a chain-segment record names the problem") {
    {
      Journal j = open_journal(dir);
      CHECK_FALSE(j.chain_check_at_open().intact);
      auto recs = all_records(j);
      REQUIRE(recs.size() == 6);
      CHECK(recs[5].type == RecordType::chain_segment);
      CHECK(recs[5].seq == 6);
      CHECK(recs[5].reading.reason.find("record 4: hash does not match the record") !=
            std::string::npos);
    }
    // The damage is declared once: the next open finds the chain intact from there.
    Journal again = open_journal(dir);
    CHECK(again.chain_check_at_open().intact);
    CHECK(again.last_seq() == 6);
  }
}

TEST_CASE("journal: a journal rolled back behind its head anchor is never silently continued", "[journal]") {
  test::TempDir dir;
  {
    Journal j = open_journal(dir);
    append(j, 1000, 3);
  }
  std::filesystem::copy_file(dir / "journal.db", dir / "old.db");
  std::string anchor3 = test::read_text(dir / "journal.db.head");
  {
    Journal j = open_journal(dir);
    append(j, 2000, 4);
  }
  std::string anchor7 = test::read_text(dir / "journal.db.head");
  CHECK(anchor7.find("seq 7") != std::string::npos);
  std::filesystem::copy_file(dir / "old.db", dir / "journal.db",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(dir / "journal.db-wal");
  auto o = test::journal_options(dir);
  o.on_chain_break = ChainBreakPolicy::refuse;
  auto refused = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("journal ends at seq 3 but its head anchor names seq 7") !=
        std::string::npos);

  Journal j = open_journal(dir);
  auto recs = all_records(j);
  REQUIRE(recs.size() == 4);
  // seq continues past the highest seq ever used and prev names the anchored old head.
  CHECK(recs[3].type == RecordType::chain_segment);
  CHECK(recs[3].seq == 8);
  CHECK(anchor7.find(recs[3].prev_hash_hex) != std::string::npos);
  CHECK(recs[3].reading.reason.find("rolled back") != std::string::npos);
}

TEST_CASE("journal: a journal from a newer agent is refused", "[journal]") {
  test::TempDir dir;
  { Journal j = open_journal(dir); }
  sql(dir / "journal.db", "PRAGMA user_version = 99");
  auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE_FALSE(j);
  CHECK(j.error().to_string().find("schema version 99 is newer") != std::string::npos);
}

TEST_CASE("journal: records signed by a new key verify with the key that signed each", "[journal]") {
  test::TempDir dir;
  {
    Journal j = open_journal(dir);
    append(j, 1000, 2);
  }
  auto o = test::journal_options(dir);
  auto j = Journal::open_for_writing(o, test::test_signer(dir, "ecdsa-p256-test.key"));
  REQUIRE(j);
  std::vector<AcceptedReading> batch{test::accepted("m1", 5000, "1")};
  REQUIRE(j->append(batch));
  auto tail = j->check_tail(10);
  REQUIRE(tail);
  CHECK(tail->intact);
  auto keys = j->public_keys();
  REQUIRE(keys);
  CHECK(keys->size() == 2);
}

TEST_CASE("journal: status reads the last reading of a point by its time", "[journal]") {
  test::TempDir dir;
  Journal j = open_journal(dir);
  std::vector<AcceptedReading> batch{test::accepted("m1", 30, "3"), test::accepted("m1", 10, "1"),
                                     test::accepted("m2", 20, "2")};
  REQUIRE(j.append(batch));
  auto ro = Journal::open_read_only(dir / "journal.db");
  REQUIRE(ro);
  auto last = ro->last_reading("m1");
  REQUIRE(last);
  REQUIRE(*last);
  CHECK((*last)->value == "3");
  CHECK((*last)->seq == 1);
  CHECK_FALSE(*ro->last_reading("m9"));
  auto range = ro->seq_range_for_time(15, 31);
  REQUIRE(range);
  REQUIRE(*range);
  CHECK((*range)->first == 1);
  CHECK((*range)->second == 3);
}

TEST_CASE("journal: a second writer on the same journal is refused", "[journal]") {
  test::TempDir dir;
  Journal first = open_journal(dir);
  auto second = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
  REQUIRE_FALSE(second);
  CHECK(second.error().code == ErrorCode::busy);
  CHECK(second.error().message == "another mrv-agent is writing this journal");
  CHECK(Journal::open_read_only(dir / "journal.db"));  // readers are welcome
}

TEST_CASE("journal: whether an agent writes it is read from the writer's lock, at once", "[journal]") {
  test::TempDir dir;
  auto path = dir / "journal.db";
  CHECK_FALSE(*Journal::writer_running(path));  // never written
  {
    Journal j = open_journal(dir);
    CHECK(*Journal::writer_running(path));
  }
  CHECK_FALSE(*Journal::writer_running(path));  // closed (or killed: the lock dies with it)
}

TEST_CASE("journal: probing for a writer never makes a starting writer fail", "[journal]") {
  test::TempDir dir;
  auto path = dir / "journal.db";
  { Journal j = open_journal(dir); }
  std::atomic<bool> done{false};
  std::atomic<uint64_t> probes{0};
  std::thread prober([&] {
    while (!done) {
      (void)Journal::writer_running(path);
      ++probes;
    }
  });
  int opened = 0;
  for (int i = 0; i < 20; ++i) {
    auto j = Journal::open_for_writing(test::journal_options(dir), test::test_signer(dir));
    if (j) ++opened;
    else FAIL_CHECK(j.error().to_string());
  }
  done = true;
  prober.join();
  CHECK(probes > 0);
  CHECK(opened == 20);
}

TEST_CASE("journal: a witness of the head beyond the journal's end is a rollback, anchor or not", "[journal]") {
  test::TempDir dir;
  {
    Journal j = open_journal(dir);
    append(j, 1000, 3);
  }
  std::filesystem::remove(dir / "journal.db.head");  // the anchor gone with the rollback
  auto o = test::journal_options(dir);
  std::string registry_hash(64, 'b');
  SECTION("policy refuse: every witness beyond the end is named") {
    o.on_chain_break = ChainBreakPolicy::refuse;
    o.head_witnesses = {{"state file", 7, ""}, {"registry", 6, registry_hash}};
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE_FALSE(j);
    CHECK(j.error().code == ErrorCode::corruption);
    CHECK(j.error().message.find("journal ends at seq 3 but its state file names seq 7, its registry names seq 6 hash " +
                                 registry_hash + ": the journal was rolled back or replaced") != std::string::npos);
  }
  SECTION("new segment: after the newest seq a witness names; prev its hash when a witness knows it") {
    o.head_witnesses = {{"state file", 6, ""}, {"registry", 6, registry_hash}};
    {
      auto j = Journal::open_for_writing(o, test::test_signer(dir));
      REQUIRE(j);
      auto recs = all_records(*j);
      REQUIRE(recs.size() == 4);
      CHECK(recs[3].type == RecordType::chain_segment);
      CHECK(recs[3].seq == 7);
      CHECK(recs[3].prev_hash_hex == registry_hash);
      CHECK(recs[3].reading.reason.find("its registry names seq 6") != std::string::npos);
    }
    // The same witnesses at the next start are behind the journal: nothing more to declare.
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    CHECK(j->chain_check_at_open().intact);
    CHECK(j->last_seq() == 7);
  }
  SECTION("a witness that knows only a seq: prev names the journal's own head") {
    o.head_witnesses = {{"state file", 9, ""}};
    std::string own_head;
    {
      auto r = Journal::open_read_only(o.path);
      own_head = r->last_hash_hex();
    }
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    auto recs = all_records(*j);
    REQUIRE(recs.back().seq == 10);
    CHECK(recs.back().prev_hash_hex == own_head);
  }
  SECTION("a witness of a seq the journal holds, with another hash: replaced") {
    o.on_chain_break = ChainBreakPolicy::refuse;
    o.head_witnesses = {{"registry", 2, registry_hash}};
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE_FALSE(j);
    CHECK(j.error().message.find("record 2 differs from the registry's hash " + registry_hash) != std::string::npos);
  }
  SECTION("witnesses at or behind the head, agreeing, change nothing") {
    std::string hash2;
    {
      auto r = Journal::open_read_only(o.path);
      REQUIRE(r->for_each_record(2, 2, [&](const StoredRecord& rec) { hash2 = to_hex(rec.hash); }));
    }
    o.on_chain_break = ChainBreakPolicy::refuse;
    o.head_witnesses = {{"state file", 3, ""}, {"registry", 2, hash2}};
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    CHECK(j->chain_check_at_open().intact);
  }
}

TEST_CASE("journal: records a witness holds are taken back, checked, before the break is declared", "[journal]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  {
    Journal j = open_journal(dir);
    append(j, 1000, 3);
  }
  std::filesystem::copy_file(o.path, dir / "old.db");
  {
    Journal j = open_journal(dir);
    append(j, 2000, 4);  // seq 4..7: the registry holds them
  }
  std::vector<StoredRecord> held;
  Sha256 root_at_7{};
  {
    auto j = Journal::open_read_only(o.path);
    REQUIRE(j->for_each_record(1, 7, [&](const StoredRecord& r) { held.push_back(r); }));
    root_at_7 = *j->tree_root(7);
  }
  std::filesystem::copy_file(dir / "old.db", o.path, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(dir / "journal.db-wal");
  std::filesystem::remove(dir / "journal.db.head");
  HeadWitness registry{"registry", 7, to_hex(held[6].hash), {}};
  size_t requests = 0;
  auto serve = [&](std::vector<StoredRecord> records) {
    return [&requests, records](uint64_t from_seq, size_t max) -> Result<std::vector<StoredRecord>> {
      ++requests;
      std::vector<StoredRecord> page;
      for (const auto& r : records)
        if (r.seq >= from_seq && page.size() < std::min<size_t>(max, 2)) page.push_back(r);  // two a page
      return page;
    };
  };

  SECTION("every record comes back; the segment follows the witness's newest") {
    registry.records = serve(held);
    o.head_witnesses = {registry};
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    CHECK(requests == 2);
    auto recs = all_records(*j);
    REQUIRE(recs.size() == 8);
    for (uint64_t seq = 4; seq <= 7; ++seq) {
      INFO("seq " << seq);
      REQUIRE(j->record(seq));
      REQUIRE(*j->record(seq));
      CHECK((*j->record(seq))->canonical == held[seq - 1].canonical);
    }
    CHECK(recs[7].type == RecordType::chain_segment);
    CHECK(recs[7].seq == 8);
    CHECK(recs[7].prev_hash_hex == to_hex(held[6].hash));
    CHECK(recs[7].reading.reason.find("seq 4..7 taken back from the registry") != std::string::npos);
    CHECK(*j->tree_root(7) == root_at_7);  // the registry's tree over them, not absent leaves
    auto last = j->last_reading("m1");
    REQUIRE(last);
    REQUIRE(*last);
    CHECK((*last)->seq == 7);
  }
  SECTION("a record that does not check out stops it; the rest is declared lost") {
    auto tampered = held;
    tampered[5].canonical[tampered[5].canonical.find("\"value\":\"") + 9] ^= 1;  // seq 6
    registry.records = serve(tampered);
    o.head_witnesses = {registry};
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    auto recs = all_records(*j);
    REQUIRE(recs.size() == 6);  // 1..5 and the segment
    CHECK(recs[4].seq == 5);
    CHECK(recs[5].seq == 8);
    CHECK(recs[5].reading.reason.find("seq 4..5 taken back from the registry (stopped at seq 6: record 6: hash "
                                      "does not match the record)") != std::string::npos);
    CHECK(recs[5].prev_hash_hex == to_hex(held[6].hash));  // the witness's newest, all the same
  }
  SECTION("policy refuse takes nothing back") {
    registry.records = serve(held);
    o.head_witnesses = {registry};
    o.on_chain_break = ChainBreakPolicy::refuse;
    REQUIRE_FALSE(Journal::open_for_writing(o, test::test_signer(dir)));
    CHECK(requests == 0);
    CHECK(Journal::open_read_only(o.path)->last_seq() == 3);
  }
}
