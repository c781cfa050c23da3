// The registry's PostgreSQL engine against a real server (tests/integration/postgres.py
// starts one and names it in MRV_TEST_PG_URL; ctest runs these as "unit [pg]"):
// migrations, the audit log with the same lines, checks and refusals as on SQLite, and
// the sites' write log shared by registry processes.
#include <cstdlib>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "audit_log.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/registry/cosigner.hpp"
#include "mrv/registry/site_store.hpp"
#include "pg.hpp"
#include "site_write_log.hpp"
#include "verify_pool.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::registry;
using json = nlohmann::json;

namespace {

// The test server's URL, with every table of an earlier test case dropped.
std::string fresh_database() {
  const char* url = std::getenv("MRV_TEST_PG_URL");
  REQUIRE(url != nullptr);  // run through tests/integration/postgres.py
  auto db = pg::Connection::open(url);
  REQUIRE(db);
  REQUIRE(db->exec_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"));
  return url;
}

Result<void> no_replay(uint64_t, const json&) { return {}; }

// Readings from..to-1 of meter m1 (value i at 1000 + i ms) appended to the agent's journal.
void append_readings(Journal& j, int from, int to) {
  std::vector<AcceptedReading> batch;
  for (int i = from; i < to; ++i) batch.push_back(test::accepted("m1", 1000 + i, std::to_string(i)));
  REQUIRE(j.append(batch));
}

// The journal's record lines, seq from..to, as the agent uploads them.
std::string record_lines(Journal& j, uint64_t from, uint64_t to) {
  std::string out;
  REQUIRE(j.for_each_record(from, to, [&](const StoredRecord& r) {
    append_record_line(out, r.seq, r.canonical, r.hash, r.signature);
  }));
  return out;
}

}  // namespace

TEST_CASE("postgres: migrations run once, in order, and a newer schema is refused", "[pg]") {
  std::string url = fresh_database();
  auto db = pg::Connection::open(url);
  REQUIRE(db);
  const char* step1 = "CREATE TABLE t (a INTEGER)";
  const char* step2 = "ALTER TABLE t ADD COLUMN b TEXT";
  REQUIRE(pg::migrate(*db, "test", {step1}));
  REQUIRE(pg::migrate(*db, "test", {step1}));  // applied already: nothing runs twice
  REQUIRE(pg::migrate(*db, "test", {step1, step2}));
  auto version = db->exec("SELECT version FROM mrv_schema WHERE component = 'test'");
  REQUIRE(version);
  CHECK(version->int64(0, 0) == 2);
  REQUIRE(db->exec("INSERT INTO t (a, b) VALUES (1, 'x')"));
  // An older registry meeting a schema a newer one wrote stops, and says why.
  auto older = pg::migrate(*db, "test", {step1});
  REQUIRE_FALSE(older);
  CHECK(older.error().message.find("schema version 2 is newer than this registry knows (1)") != std::string::npos);
  // A failing step leaves nothing half done.
  auto bad = pg::migrate(*db, "test", {step1, step2, "ALTER TABLE t ADD COLUMN c INTEGER", "NOT SQL"});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("test migration step 4: [42601]") != std::string::npos);
  auto columns = db->exec("SELECT count(*) FROM information_schema.columns WHERE table_name = 't'");
  REQUIRE(columns);
  CHECK(columns->int64(0, 0) == 2);
  // check_schema reads the same, writing nothing; a version below 0 is refused by both.
  auto read = pg::check_schema(*db, "test", 2);
  REQUIRE(read);
  CHECK(*read == 2);
  CHECK(*pg::check_schema(*db, "never-migrated", 1) == 0);
  CHECK_FALSE(pg::check_schema(*db, "test", 1));
  REQUIRE(db->exec("UPDATE mrv_schema SET version = -1 WHERE component = 'test'"));
  auto negative = pg::migrate(*db, "test", {step1});
  REQUIRE_FALSE(negative);
  CHECK(negative.error().message == "test schema version -1 is not a version");
  CHECK_FALSE(pg::check_schema(*db, "test", 2));
}

TEST_CASE("postgres: a server that is not there is a retryable error that names it, not its password", "[pg]") {
  auto db = pg::Connection::open("postgresql://mrv:s3cret@127.0.0.1:1/mrv?connect_timeout=2");
  REQUIRE_FALSE(db);
  CHECK(db.error().code == ErrorCode::busy);
  CHECK(db.error().where == "postgresql 127.0.0.1:1/mrv");
  CHECK(db.error().to_string().find("s3cret") == std::string::npos);
}

TEST_CASE("postgres: the audit log keeps the same lines as on SQLite, replays them and refuses edits", "[pg]") {
  std::string url = fresh_database();
  test::TempDir dir;
  auto on_pg = AuditLog::open_postgres(url, no_replay);
  REQUIRE(on_pg);
  auto on_sqlite = AuditLog::open_sqlite(dir.path() / "audit.db", no_replay);
  REQUIRE(on_sqlite);
  std::vector<std::string> lines;
  for (int i = 0; i < 3; ++i) {
    json action = {{"action", "suspend"}, {"site", "s" + std::to_string(i)}};
    auto line = (*on_pg)->append("ops", 1000 + i, action);
    REQUIRE(line);
    REQUIRE(*line);
    auto same = (*on_sqlite)->append("ops", 1000 + i, action);
    REQUIRE(same);
    CHECK(*line == *same);  // byte for byte, whichever engine keeps them
    lines.push_back(**line);
  }
  auto from2 = (*on_pg)->lines(2, 10);
  REQUIRE(from2);
  CHECK(*from2 == lines[1] + "\n" + lines[2] + "\n");
  auto from2_sqlite = (*on_sqlite)->lines(2, 10);
  REQUIRE(from2_sqlite);
  CHECK(*from2 == *from2_sqlite);
  on_pg->reset();

  std::vector<uint64_t> replayed;
  auto reopened = AuditLog::open_postgres(url, [&](uint64_t seq, const json& action) -> Result<void> {
    replayed.push_back(seq);
    CHECK(action["site"] == "s" + std::to_string(seq - 1));
    return {};
  });
  REQUIRE(reopened);
  CHECK((*reopened)->last_seq() == 3);
  CHECK(replayed == std::vector<uint64_t>{1, 2, 3});
  reopened->reset();

  // Append-only: the triggers refuse UPDATE, DELETE and TRUNCATE, whoever connects.
  auto db = pg::Connection::open(url);
  REQUIRE(db);
  for (const char* edit : {"UPDATE audit SET line = 'x' WHERE seq = 2", "DELETE FROM audit WHERE seq = 3",
                           "TRUNCATE audit"}) {
    auto r = db->exec(edit);
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("the audit log is append-only") != std::string::npos);
  }
  // One who can drop the trigger can delete, but the registry then refuses to start.
  REQUIRE(db->exec_script("ALTER TABLE audit DISABLE TRIGGER audit_no_change; DELETE FROM audit WHERE seq = 2"));
  auto edited = AuditLog::open_postgres(url, no_replay);
  REQUIRE_FALSE(edited);
  CHECK(edited.error().code == ErrorCode::corruption);
  CHECK(edited.error().to_string().find("audit seq 3: follows seq 1") != std::string::npos);
}

TEST_CASE("postgres: two registry processes never both take one audit seq, and each catches up", "[pg]") {
  std::string url = fresh_database();
  std::vector<std::string> seen;  // the sites of the entries the second process replayed
  auto replay_into = [&](uint64_t, const json& action) -> Result<void> {
    seen.push_back(action["site"]);
    return {};
  };
  auto first = AuditLog::open_postgres(url, no_replay);
  auto second = AuditLog::open_postgres(url, replay_into);
  REQUIRE(first);
  REQUIRE(second);
  auto a = (*first)->append("ops", 1, {{"action", "suspend"}, {"site", "a"}});
  REQUIRE(a);
  REQUIRE(*a);
  // The second opened before that entry: its next seq is taken, and it is told so.
  auto stale = (*second)->append("ops", 2, {{"action", "suspend"}, {"site", "b"}});
  REQUIRE(stale);
  CHECK_FALSE(*stale);
  CHECK((*second)->last_seq() == 0);
  // It catches up (the entry checked and replayed), then its entry follows the first.
  auto taken = (*second)->catch_up(replay_into);
  REQUIRE(taken);
  CHECK(*taken == 1);
  CHECK(seen == std::vector<std::string>{"a"});
  auto b = (*second)->append("ops", 2, {{"action", "suspend"}, {"site", "b"}});
  REQUIRE(b);
  REQUIRE(*b);
  CHECK(json::parse(**b)["seq"] == 2);
  CHECK(json::parse(**b)["prev"] == to_hex(sha256(**a)));
  auto again = (*second)->catch_up(replay_into);
  REQUIRE(again);
  CHECK(*again == 0);
  auto all = (*first)->lines(1, 10);
  REQUIRE(all);
  CHECK(*all == **a + "\n" + **b + "\n");
  // An entry that does not link to the one before stops the catch-up at it, as at opening.
  auto db = pg::Connection::open(url);
  REQUIRE(db);
  REQUIRE(db->exec_script(R"sql(ALTER TABLE audit DISABLE TRIGGER audit_no_change;
    UPDATE audit SET line = regexp_replace(line, '"prev":"[0-9a-f]{64}"', '"prev":"' || repeat('0', 64) || '"')
    WHERE seq = 2)sql"));
  auto caught = (*first)->catch_up(no_replay);
  REQUIRE_FALSE(caught);
  CHECK(caught.error().code == ErrorCode::corruption);
  CHECK(caught.error().to_string().find("audit seq 2: not the entry that links") != std::string::npos);
  CHECK((*first)->last_seq() == 1);
}

TEST_CASE("postgres: the write log gives bodies byte for byte, checks a copy's newest write by its digest, and survives a lost connection", "[pg]") {
  std::string url = fresh_database();
  auto log = SiteWriteLog::open(url, 1);
  REQUIRE(log);
  std::vector<SiteWrite> writes = {{1, "key", "pem", "", 1767225600123},
                                   {2, "report", std::string("a\0b\xff\n", 5), "x", -5},
                                   {3, "records", "line\n", "", 1767225600999}};
  std::vector<std::string> digests;
  for (const SiteWrite& w : writes) {
    auto session = (*log)->lock("s");
    REQUIRE(session);
    auto digest = session->append(w);
    REQUIRE(digest);
    CHECK(*digest == w.digest_hex());
    digests.push_back(*digest);
  }
  auto db = pg::Connection::open(url);
  REQUIRE(db);
  auto compression = db->exec("SELECT attcompression FROM pg_attribute WHERE attrelid = 'site_writes'::regclass AND attname = 'body'");
  REQUIRE(compression);
  CHECK(compression->text(0, 0) == "l");  // lz4: Debian's PostgreSQL 15 has it
  auto check = [&](const std::string& digest_of_1) {
    std::vector<SiteWrite> out;
    REQUIRE((*log)->newer("s", 1, digest_of_1, out));
    REQUIRE(out.size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      CHECK(out[i].n == writes[i + 1].n);
      CHECK(out[i].kind == writes[i + 1].kind);
      CHECK(out[i].body == writes[i + 1].body);
      CHECK(out[i].extra == writes[i + 1].extra);
      CHECK(out[i].at_ms == writes[i + 1].at_ms);
    }
    auto wrong = (*log)->newer("s", 1, digests[1], out);
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().code == ErrorCode::corruption);
    CHECK(wrong.error().message.find("write 1, the newest in this process's copy, differs") != std::string::npos);
  };
  check(digests[0]);
  // A database whose writes were logged before it kept digests (schema v1): the migration
  // adds the column, and PostgreSQL computes the digests of those writes the same way.
  log->reset();
  REQUIRE(db->exec_script("ALTER TABLE site_writes DROP COLUMN digest; UPDATE mrv_schema SET version = 1 WHERE component = 'sites'"));
  log = SiteWriteLog::open(url, 1);
  REQUIRE(log);
  auto nulls = db->exec("SELECT count(*) FROM site_writes WHERE digest IS NULL");
  REQUIRE(nulls);
  CHECK(nulls->text(0, 0) == "3");
  check(digests[0]);
  // The server drops the log's connection, which had its statements prepared: the next
  // read reconnects and prepares them again.
  REQUIRE(db->exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()"));
  check(digests[0]);
}

TEST_CASE("postgres: two registry processes share a site: each write logged once, in order, and followed", "[pg]") {
  std::string url = fresh_database();
  test::TempDir agent, front_a, front_b, front_c;
  auto j = Journal::open_for_writing(test::journal_options(agent), test::test_signer(agent));
  REQUIRE(j);
  append_readings(*j, 0, 12);
  REQUIRE(j->checkpoint("test"));
  auto lines = [&](uint64_t from, uint64_t to) { return record_lines(*j, from, to); };
  auto log = SiteWriteLog::open(url, 2);
  REQUIRE(log);
  VerifyPool pool{1};
  test::test_signer(front_a, "ed25519-cosigner-test.key");
  auto cosigner = Cosigner::load(front_a / "ed25519-cosigner-test.key", "registry.test");
  REQUIRE(cosigner);
  auto open = [&](const test::TempDir& dir) {
    SiteOptions options;
    options.cosigner = &*cosigner;
    options.shared_log = log->get();
    auto s = SiteStore::open(dir.path(), "test-site", std::move(options), pool);
    REQUIRE(s);
    return std::move(*s);
  };
  auto a = open(front_a), b = open(front_b);
  std::string pem = test::test_signer(agent).public_pem();
  REQUIRE(a->register_key(pem));
  // B has not followed A: its write catches up first, under the site's lock.
  auto first = b->post_records(lines(1, 5), false);
  INFO((first ? *first : first.error().to_json()));
  REQUIRE(first);
  REQUIRE(a->post_records(lines(1, 8), false));  // 1..5 a resend: only 6..8 are new
  auto note = j->latest_checkpoint();
  REQUIRE(note);
  REQUIRE(*note);
  REQUIRE(b->post_records(lines(9, 12), false));
  auto receipt = b->post_checkpoint((*note)->checkpoint.note);
  REQUIRE(receipt);
  // A forgery is refused and logged nowhere.
  std::string forged = lines(12, 12);
  forged[forged.find("\"value\"") + 10] ^= 1;
  CHECK_FALSE(a->post_records(forged, false));
  auto db = pg::Connection::open(url);
  REQUIRE(db);
  auto kinds = db->exec("SELECT string_agg(kind || ':' || n, ',' ORDER BY n) FROM site_writes WHERE site = 'test-site'");
  REQUIRE(kinds);
  CHECK(kinds->text(0, 0) == "key:1,records:2,records:3,records:4,checkpoint:5");
  // Each record once: the logged batches hold seqs 1..5, 6..8, 9..12.
  auto bodies = db->exec("SELECT convert_from(body, 'UTF8') FROM site_writes WHERE kind = 'records' ORDER BY n");
  REQUIRE(bodies);
  std::vector<uint64_t> seqs;
  for (int i = 0; i < bodies->size(); ++i) {
    std::string_view text = bodies->text(i, 0);
    for (size_t pos = 0, end; (end = text.find('\n', pos)) != std::string_view::npos; pos = end + 1)
      seqs.push_back(parse_record_line(text.substr(pos, end - pos))->seq);
  }
  CHECK(seqs == std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  a->follow(5);
  // A third process with an empty data_dir rebuilds the site from the log alone.
  auto c = open(front_c);
  c->follow(5);
  for (auto* s : {a.get(), b.get(), c.get()}) {
    CHECK(*s->records(1, 100) == lines(1, 12));
    CHECK(*s->checkpoints(0, 100) == *b->checkpoints(0, 100));
    CHECK(json::parse(*s->summary())["held_through"] == 12);
  }
  CHECK(json::parse(*c->checkpoints(0, 100))[0]["cosignatures"].size() == 1);
  CHECK(*c->keys() == *a->keys());
  // The log refuses edits, and a database that lost this copy's newest write is named.
  CHECK_FALSE(db->exec("DELETE FROM site_writes"));
  c.reset();
  REQUIRE(db->exec_script("ALTER TABLE site_writes DISABLE TRIGGER site_writes_no_change; DELETE FROM site_writes WHERE n = 5"));
  c = open(front_c);
  auto gone = c->register_key(pem);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().message.find("write 5, the newest in this process's copy, is not in the database") != std::string::npos);
}

TEST_CASE("postgres: a site kept on SQLite moves into the database at its first start with one, and another process rebuilds it", "[pg]") {
  std::string url = fresh_database();
  test::TempDir agent, front_a, front_b, front_c;
  auto j = Journal::open_for_writing(test::journal_options(agent), test::test_signer(agent));
  REQUIRE(j);
  append_readings(*j, 0, 8);
  REQUIRE(j->checkpoint("test"));
  auto note = j->latest_checkpoint();
  REQUIRE(note);
  REQUIRE(*note);
  append_readings(*j, 8, 12);
  auto lines = [&](uint64_t from, uint64_t to) { return record_lines(*j, from, to); };
  VerifyPool pool{1};
  test::test_signer(front_a, "ed25519-cosigner-test.key");
  auto cosigner = Cosigner::load(front_a / "ed25519-cosigner-test.key", "registry.test");
  REQUIRE(cosigner);
  auto open = [&](const test::TempDir& dir, SiteWriteLog* log) {
    SiteOptions options;
    options.cosigner = &*cosigner;
    options.shared_log = log;
    return SiteStore::open(dir.path(), "test-site", std::move(options), pool);
  };
  std::string pem = test::test_signer(agent).public_pem();
  const std::string config = "site = \"test-site\"\n";
  for (auto* dir : {&front_a, &front_c}) {  // two registries on SQLite, each with the site
    auto s = open(*dir, nullptr);
    REQUIRE(s);
    REQUIRE((*s)->register_key(pem));
    REQUIRE((*s)->add_config(to_hex(sha256(config)), config));
    REQUIRE((*s)->post_records(lines(1, 8), false));
    REQUIRE((*s)->post_checkpoint((*note)->checkpoint.note));
    REQUIRE((*s)->post_records(lines(9, 12), false));
  }
  auto on_sqlite = open(front_a, nullptr);
  REQUIRE(on_sqlite);
  std::string records = *(*on_sqlite)->records(1, 100), checkpoints = *(*on_sqlite)->checkpoints(0, 100),
              keys = *(*on_sqlite)->keys();
  on_sqlite->reset();
  REQUIRE(json::parse(checkpoints)[0]["cosignatures"].size() == 1);

  auto log = SiteWriteLog::open(url, 2);
  REQUIRE(log);
  auto db = pg::Connection::open(url);
  REQUIRE(db);
  // A move cut short (the database refuses its fourth write) leaves nothing in the
  // database and no place file here: the next start moves the site whole.
  REQUIRE(db->exec_script(
      "CREATE FUNCTION refuse_fourth() RETURNS trigger LANGUAGE plpgsql AS "
      "$$ BEGIN IF NEW.n = 4 THEN RAISE EXCEPTION 'no room'; END IF; RETURN NEW; END $$; "
      "CREATE TRIGGER refuse_fourth BEFORE INSERT ON site_writes FOR EACH ROW EXECUTE FUNCTION refuse_fourth();"));
  auto cut = open(front_a, log->get());
  REQUIRE_FALSE(cut);
  CHECK(cut.error().to_string().find("no room") != std::string::npos);
  auto none = db->exec("SELECT count(*) FROM site_writes");
  REQUIRE(none);
  CHECK(none->text(0, 0) == "0");
  for (const auto& file : std::filesystem::directory_iterator(front_a.path() / "sites"))
    CHECK(file.path().extension() != ".shared");
  REQUIRE(db->exec_script("DROP TRIGGER refuse_fourth ON site_writes; DROP FUNCTION refuse_fourth();"));
  auto a = open(front_a, log->get());
  INFO((a ? "" : a.error().to_string()));
  REQUIRE(a);
  CHECK(std::filesystem::exists((*a)->journal_path().string() + ".shared"));
  auto kinds = db->exec("SELECT string_agg(kind || ':' || n, ',' ORDER BY n) FROM site_writes WHERE site = 'test-site'");
  REQUIRE(kinds);
  CHECK(kinds->text(0, 0) == "key:1,config:2,records:3,checkpoint:4,records:5");
  // Another process, on an empty data_dir, serves the same site from the log alone: the
  // same lines, the checkpoint with the cosignature given on SQLite, the key as registered.
  auto b = open(front_b, log->get());
  REQUIRE(b);
  // Its place in the log is kept from the start: a crash before its first save does not
  // make its copy look like a site kept before [database].
  CHECK(std::filesystem::exists((*b)->journal_path().string() + ".shared"));
  (*b)->follow(5);
  for (auto* s : {a->get(), b->get()}) {
    CHECK(*s->records(1, 100) == records);
    CHECK(*s->checkpoints(0, 100) == checkpoints);
    CHECK(*s->keys() == keys);
    CHECK(json::parse(*s->summary())["held_through"] == 12);
  }
  // Writes go on from there, on either process.
  append_readings(*j, 12, 13);
  auto more = (*b)->post_records(lines(13, 13), false);
  INFO((more ? *more : more.error().to_json()));
  REQUIRE(more);
  (*a)->follow(6);
  CHECK(*(*a)->records(1, 100) == lines(1, 13));
  // The other registry's SQLite copy of the site cannot move in on top of it: the site is
  // named, with what to do, and the database is unchanged.
  auto c = open(front_c, log->get());
  REQUIRE_FALSE(c);
  CHECK(c.error().message.find("the database holds writes of this site too") != std::string::npos);
  auto count = db->exec("SELECT count(*) FROM site_writes");
  REQUIRE(count);
  CHECK(count->text(0, 0) == "6");
}
