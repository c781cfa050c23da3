#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "mrv/core/gzip.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/site_record.hpp"
#include "mrv/registry/registry_config.hpp"
#include "mrv/registry/site_store.hpp"
#include "test_support.hpp"
#include "verify_pool.hpp"

using namespace mrv;
using namespace mrv::registry;
using json = nlohmann::json;

namespace {

// A site journal with `n` records (seq 1..n) signed by the test key (or, checkpoint-only,
// covered by its signed checkpoints).
Journal site_journal(const test::TempDir& dir, int n, const std::string& value_prefix = "",
                     bool checkpoint_only = false, const std::string& key = "ed25519-test.key") {
  auto options = test::journal_options(dir);
  options.checkpoint_only = checkpoint_only;
  auto j = Journal::open_for_writing(options, test::test_signer(dir, key));
  REQUIRE(j);
  std::vector<AcceptedReading> batch;
  for (int i = 0; i < n; ++i) batch.push_back(test::accepted("m1", 1000 + i, value_prefix + std::to_string(i)));
  REQUIRE(j->append(batch));
  return std::move(*j);
}

// The record lines of seq from..to, as an uploader sends them.
std::string lines(Journal& j, uint64_t from, uint64_t to) {
  std::string out;
  REQUIRE(j.for_each_record(from, to, [&](const StoredRecord& r) {
    append_record_line(out, r.seq, r.canonical, r.hash, r.signature);
  }));
  return out;
}

std::string gz(const std::string& text) {
  std::string out;
  REQUIRE(gzip_compress(text, 6, out));
  return out;
}

struct Registry {
  test::TempDir dir;
  VerifyPool pool{2};
  std::unique_ptr<SiteStore> store;
  explicit Registry(StoreLimits limits = {}, bool checkpoint_only = false) {
    open(SiteOptions{{}, checkpoint_only, limits});
  }
  void open(SiteOptions options) {
    store.reset();
    auto s = SiteStore::open(dir.path(), "test-site", std::move(options), pool);
    REQUIRE(s);
    store = std::move(*s);
  }
  json summary() { return json::parse(*store->summary()); }
  uint64_t held() { return summary()["held_through"].get<uint64_t>(); }
  uint64_t unproven_through() { return summary()["unproven_through"].get<uint64_t>(); }
};

// A record line with its signature replaced (base64 of `signature`).
std::string with_signature(const std::string& line, const std::string& signature) {
  auto rl = parse_record_line(line.substr(0, line.find('\n')));
  std::string out;
  append_record_line(out, rl->seq, rl->record, *from_hex(rl->hash_hex), signature);
  return out;
}

// The newest checkpoint note of a journal.
std::string latest_note(Journal& j) {
  auto latest = j.latest_checkpoint();
  REQUIRE(latest);
  REQUIRE(*latest);
  return (*latest)->checkpoint.note;
}

PublicKey test_key(const test::TempDir& dir, const std::string& name = "ed25519-test.key") {
  auto signer = test::test_signer(dir, name);
  return *PublicKey::from_pem(signer.public_pem());
}

}  // namespace

TEST_CASE("registry: records verify, are stored once, and a resend gets the same receipt", "[registry]") {
  test::TempDir site;
  Journal j = site_journal(site, 300);
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  auto first = reg.store->post_records(gz(lines(j, 1, 200)), true);
  REQUIRE(first);
  auto receipt = json::parse(*first);
  CHECK(receipt["first_seq"] == 1);
  CHECK(receipt["last_seq"] == 200);
  CHECK(receipt["records"] == 200);
  CHECK(reg.held() == 200);
  auto again = reg.store->post_records(gz(lines(j, 1, 200)), true);
  REQUIRE(again);
  CHECK(*again == *first);  // the same receipt, nothing stored twice
  CHECK(reg.held() == 200);
  // A resend that overlaps what is held stores only the new records.
  auto overlap = reg.store->post_records(lines(j, 150, 300), false);
  REQUIRE(overlap);
  CHECK(json::parse(*overlap)["first_seq"] == 150);
  CHECK(reg.held() == 300);
  auto stored = reg.store->records(1, 300);
  REQUIRE(stored);
  CHECK(*stored == lines(j, 1, 300));  // byte for byte what the site signed
}

TEST_CASE("registry: each refusal names its check and seq, and stores nothing", "[registry]") {
  test::TempDir site;
  Journal j = site_journal(site, 50);
  Registry reg;
  REQUIRE(reg.store->post_records(lines(j, 1, 10), false).error().error == "unknown_key");
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  REQUIRE(reg.store->post_records(lines(j, 1, 10), false));

  SECTION("a bad signature") {
    std::string body = lines(j, 11, 20);
    auto rl = parse_record_line(body.substr(0, body.find('\n')));
    auto sig = *from_base64(rl->signature_b64);
    sig[5] ^= 1;
    std::string bad;
    append_record_line(bad, 11, rl->record, *from_hex(rl->hash_hex), sig);
    auto r = reg.store->post_records(bad + body.substr(body.find('\n') + 1), false);
    REQUIRE_FALSE(r);
    CHECK(r.error().status == 422);
    CHECK(r.error().error == "bad_signature");
    CHECK(r.error().seq == 11u);
  }
  SECTION("a gap before the batch") {
    auto r = reg.store->post_records(lines(j, 13, 20), false);
    REQUIRE_FALSE(r);
    CHECK(r.error().status == 409);
    CHECK(r.error().error == "gap");
    CHECK(r.error().held_through == 10u);
    CHECK(json::parse(r.error().to_json())["held_through"] == 10);
  }
  SECTION("a gap inside the batch") {
    auto r = reg.store->post_records(lines(j, 11, 12) + lines(j, 14, 20), false);
    REQUIRE_FALSE(r);
    CHECK(r.error().status == 422);
    CHECK(r.error().check == "chain");
    CHECK(r.error().seq == 14u);
  }
  SECTION("a changed record the registry holds") {
    test::TempDir other;
    Journal forked = site_journal(other, 5, "9");  // same key and site, other readings at seq 1..5
    std::string body = lines(forked, 5, 5);
    auto r = reg.store->post_records(body, false);
    REQUIRE_FALSE(r);
    CHECK(r.error().error == "conflict");
    CHECK(r.error().seq == 5u);
  }
  SECTION("malformed and oversized bodies") {
    CHECK(reg.store->post_records("not gzip", true).error().status == 400);
    CHECK(reg.store->post_records("{\"seq\":11}\n", false).error().error == "malformed");
    CHECK(reg.store->post_records("", false).error().status == 400);
  }
  CHECK(reg.held() == 10);
}

TEST_CASE("registry: a store that fails (disk full) answers 500, keeps nothing, and takes the resend", "[registry]") {
  test::TempDir site;
  Journal j = site_journal(site, 600);
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  REQUIRE(reg.store->post_records(lines(j, 1, 100), false));
  // Another connection makes every insert fail, as a full disk would.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(reg.store->journal_path().c_str(), &db) == SQLITE_OK);
  auto exec = [&](const char* sql) { REQUIRE(sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK); };
  exec("CREATE TRIGGER full BEFORE INSERT ON records WHEN NEW.seq = 450 BEGIN SELECT RAISE(FAIL, 'disk full'); END");
  auto failed = reg.store->post_records(lines(j, 101, 600), false);
  REQUIRE_FALSE(failed);
  CHECK(failed.error().status == 500);
  CHECK(failed.error().error == "storage");
  CHECK(reg.held() == 100);  // the records before seq 450 went with the transaction
  exec("DROP TRIGGER full");
  sqlite3_close(db);
  REQUIRE(reg.store->post_records(lines(j, 101, 600), false));  // the chain and tree were rolled back too
  CHECK(reg.held() == 600);
  REQUIRE(j.checkpoint("test"));
  CHECK(reg.store->post_checkpoint((*j.latest_checkpoint())->checkpoint.note));  // its root matches
}

TEST_CASE("registry: a body that inflates past the limit is refused as too large", "[registry]") {
  Registry reg(StoreLimits{4096, 100, 1000});
  std::string zeros(1 << 20, '0');
  auto r = reg.store->post_records(gz(zeros), true);
  REQUIRE_FALSE(r);
  CHECK(r.error().status == 413);
  CHECK(reg.store->post_records(std::string(5000, 'x'), false).error().status == 413);
}

TEST_CASE("registry: a record of another site is refused", "[registry]") {
  test::TempDir site;
  Journal j = site_journal(site, 3);
  test::TempDir dir;
  VerifyPool pool(1);
  auto other = SiteStore::open(dir.path(), "other-site", SiteOptions{}, pool);
  REQUIRE(other);
  REQUIRE((*other)->register_key(test_key(site).pem()));
  auto r = (*other)->post_records(lines(j, 1, 3), false);
  REQUIRE_FALSE(r);
  CHECK(r.error().error == "wrong_site");
}

TEST_CASE("registry: checkpoints verify against the stored tree; a fork is refused", "[registry]") {
  test::TempDir site;
  Journal j = site_journal(site, 700);
  REQUIRE(j.checkpoint("test"));
  auto latest = j.latest_checkpoint();
  REQUIRE(latest);
  REQUIRE(*latest);
  const std::string note = (*latest)->checkpoint.note;
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  REQUIRE(reg.store->post_records(lines(j, 1, 600), false));
  auto early = reg.store->post_checkpoint(note);
  REQUIRE_FALSE(early);
  CHECK(early.error().error == "records_missing");
  REQUIRE(reg.store->post_records(lines(j, 601, 700), false));
  auto ok = reg.store->post_checkpoint(note);
  REQUIRE(ok);
  CHECK(json::parse(*ok)["tree_size"] == 700);
  CHECK(*reg.store->post_checkpoint(note) == *ok);  // idempotent
  // A checkpoint over a forked history, signed with the site's key.
  test::TempDir other;
  Journal forked = site_journal(other, 700, "9");  // same key, other readings
  REQUIRE(forked.checkpoint("fork"));
  auto forked_cp = forked.latest_checkpoint();
  auto fork = reg.store->post_checkpoint((*forked_cp)->checkpoint.note);
  REQUIRE_FALSE(fork);
  CHECK(fork.error().error == "fork");
  std::string tampered = note;
  tampered[tampered.find('\n') + 1] = '6';  // another tree size under the same signature
  CHECK(reg.store->post_checkpoint(tampered).error().status >= 400);
}

TEST_CASE("registry: a declared break (chain segment after a skip) is taken, and the tree matches the site's", "[registry]") {
  test::TempDir site;
  auto append = [&](int64_t ts, int n) {
    auto j = Journal::open_for_writing(test::journal_options(site), test::test_signer(site));
    REQUIRE(j);
    std::vector<AcceptedReading> batch;
    for (int i = 0; i < n; ++i) batch.push_back(test::accepted("m1", ts + i, "1"));
    REQUIRE(j->append(batch));
  };
  append(0, 3);
  std::filesystem::copy_file(site / "journal.db", site / "old.db");
  append(100, 50);  // seq 4..53, then the journal is rolled back to seq 3
  std::filesystem::copy_file(site / "old.db", site / "journal.db", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(site / "journal.db-wal");
  auto j = Journal::open_for_writing(test::journal_options(site), test::test_signer(site));
  REQUIRE(j);
  std::vector<AcceptedReading> more{test::accepted("m1", 500, "2")};
  REQUIRE(j->append(more));
  REQUIRE(j->checkpoint("test"));
  auto cp = j->latest_checkpoint();
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  REQUIRE(reg.store->post_records(lines(*j, 1, 3), false));
  auto after = reg.store->post_records(lines(*j, 4, UINT64_MAX >> 2), false);
  REQUIRE(after);
  CHECK(json::parse(*after)["first_seq"] == 54);
  auto ok = reg.store->post_checkpoint((*cp)->checkpoint.note);
  REQUIRE(ok);  // the registry's tree, with absent leaves 4..53, has the site's root
}

TEST_CASE("registry: a record with an empty signature is refused, Ed25519 and ECDSA alike", "[registry][hostile]") {
  for (const std::string key : {"ed25519-test.key", "ecdsa-p256-test.key"}) {
    test::TempDir site;
    Journal j = site_journal(site, 5, "", false, key);
    Registry reg;
    REQUIRE(reg.store->register_key(test_key(site, key).pem()));
    REQUIRE(reg.store->post_records(lines(j, 1, 2), false));
    std::string body = lines(j, 3, 5);
    auto r = reg.store->post_records(with_signature(body, "") + body.substr(body.find('\n') + 1), false);
    REQUIRE_FALSE(r);
    CHECK(r.error().status == 422);
    CHECK(r.error().error == "bad_signature");
    CHECK(r.error().seq == 3u);
    CHECK(reg.held() == 2);
    CHECK(*reg.store->records(1, 10) == lines(j, 1, 2));  // nothing unverified is served
  }
}

TEST_CASE("registry: a first batch that does not start at seq 1 is a gap", "[registry][hostile]") {
  test::TempDir site;
  Journal j = site_journal(site, 10);
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  auto r = reg.store->post_records(lines(j, 5, 10), false);
  REQUIRE_FALSE(r);
  CHECK(r.error().status == 409);
  CHECK(r.error().error == "gap");
  CHECK(r.error().held_through == 0u);
  CHECK(reg.held() == 0);
  REQUIRE(reg.store->post_records(lines(j, 1, 10), false));
  CHECK(reg.held() == 10);
}

TEST_CASE("registry: unsigned records are refused unless the site is configured checkpoint-only", "[registry][hostile]") {
  test::TempDir site;
  Journal j = site_journal(site, 20, "", true);
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  auto r = reg.store->post_records(lines(j, 1, 20), false);
  REQUIRE_FALSE(r);
  CHECK(r.error().status == 422);
  CHECK(r.error().error == "bad_signature");
  CHECK(r.error().seq == 1u);
  CHECK(reg.held() == 0);
  CHECK(reg.unproven_through() == 0);
}

TEST_CASE("registry: checkpoint-only records wait unproven until a signed checkpoint covers them", "[registry][hostile]") {
  test::TempDir site;
  Journal j = site_journal(site, 300, "", true);
  REQUIRE(j.checkpoint("test"));  // at 300
  Registry reg({}, true);
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  auto receipt = reg.store->post_records(lines(j, 1, 300), false);
  REQUIRE(receipt);
  CHECK(json::parse(*receipt)["last_seq"] == 300);
  CHECK(reg.held() == 0);  // not vouched for yet
  CHECK(reg.unproven_through() == 300);
  CHECK(reg.store->records(1, 300)->empty());  // and not served
  REQUIRE(reg.store->post_records(lines(j, 101, 300), false));  // a resend is answered, stores nothing new
  SECTION("a checkpoint that covers them proves them") {
    auto ok = reg.store->post_checkpoint(latest_note(j));
    REQUIRE(ok);
    CHECK(reg.held() == 300);
    CHECK(reg.unproven_through() == 0);
    CHECK(*reg.store->records(1, 300) == lines(j, 1, 300));
  }
  SECTION("they survive a restart of the registry") {
    reg.open(SiteOptions{{}, true, {}});
    CHECK(reg.unproven_through() == 300);
    REQUIRE(reg.store->post_checkpoint(latest_note(j)));
    CHECK(reg.held() == 300);
  }
}

TEST_CASE("registry: forged unsigned records neither poison the stream nor get proven", "[registry][hostile]") {
  test::TempDir site, forger;
  Journal j = site_journal(site, 200, "", true);
  REQUIRE(j.checkpoint("test"));  // at 200
  // The forger holds the site's token, not its key: unsigned records that name the
  // site's key (checkpoint-only records carry no signature to forge).
  Journal forged = site_journal(forger, 200, "9", true);
  Registry reg({}, true);
  REQUIRE(reg.store->register_key(test_key(site).pem()));

  SECTION("garbage posted first is replaced by the genuine records") {
    REQUIRE(reg.store->post_records(lines(forged, 1, 150), false));
    CHECK(reg.unproven_through() == 150);
    REQUIRE(reg.store->post_records(lines(j, 1, 100), false));  // no 409 conflict
    CHECK(reg.unproven_through() == 100);
    REQUIRE(reg.store->post_records(lines(j, 101, 200), false));
    REQUIRE(reg.store->post_checkpoint(latest_note(j)));
    CHECK(reg.held() == 200);
    CHECK(*reg.store->records(1, 200) == lines(j, 1, 200));
  }
  SECTION("garbage posted after the genuine records is dropped by the checkpoint, and the resend is proven") {
    REQUIRE(reg.store->post_records(lines(j, 1, 200), false));
    REQUIRE(reg.store->post_records(lines(forged, 1, 200), false));
    auto refused = reg.store->post_checkpoint(latest_note(j));
    REQUIRE_FALSE(refused);
    CHECK(refused.error().status == 409);
    CHECK(refused.error().error == "records_missing");
    CHECK(refused.error().held_through == 0u);  // the agent resends from seq 1
    CHECK(reg.held() == 0);
    CHECK(reg.unproven_through() == 0);
    CHECK(reg.store->records(1, 200)->empty());
    REQUIRE(reg.store->post_records(lines(j, 1, 200), false));
    REQUIRE(reg.store->post_checkpoint(latest_note(j)));
    CHECK(*reg.store->records(1, 200) == lines(j, 1, 200));
  }
  SECTION("an unsigned chain segment at seq 2^40 moves nothing, and the genuine records follow") {
    REQUIRE(reg.store->post_records(lines(j, 1, 100), false));
    auto f = decode_record(json::parse(lines(j, 100, 100))["record"].get<std::string>());
    REQUIRE(f);
    f->type = RecordType::chain_segment;
    f->seq = uint64_t{1} << 40;
    f->reading.reason = "new chain segment: forged";
    f->reading.point_id = f->reading.value = f->reading.unit = "";
    f->reading.quality = Quality::bad;
    f->reading.source = "agent";
    std::string canonical;
    REQUIRE(encode_record(*f, canonical));
    std::string jump;
    append_record_line(jump, f->seq, canonical, std::string(reinterpret_cast<const char*>(sha256(canonical).data()), 32), "");
    REQUIRE(reg.store->post_records(jump, false));
    CHECK(reg.held() == 0);
    CHECK(reg.unproven_through() == uint64_t{1} << 40);
    REQUIRE(reg.store->post_records(lines(j, 101, 200), false));  // not 409: the jump is replaced
    CHECK(reg.unproven_through() == 200);
    REQUIRE(reg.store->post_checkpoint(latest_note(j)));
    CHECK(reg.held() == 200);
    CHECK(reg.summary()["tree_size"] == 200);
  }
}

TEST_CASE("limits: 2 x max_batch_records unproven records wait and one more is 409 while a batch replacing them fits",
          "[registry][hostile][limits]") {
  test::TempDir site, forger;
  Journal j = site_journal(site, 20, "", true);
  REQUIRE(j.checkpoint("test"));  // at 20
  Journal forged = site_journal(forger, 21, "9", true);
  Registry reg(StoreLimits{16 << 20, 10, 20}, true);  // max_batch_records 10: 20 may wait
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  // At the limit: 20 forged records wait; one more is refused, nothing of it kept.
  REQUIRE(reg.store->post_records(lines(forged, 1, 10), false));
  REQUIRE(reg.store->post_records(lines(forged, 11, 20), false));
  CHECK(reg.summary()["unproven_records"] == 20);
  auto past = reg.store->post_records(lines(forged, 21, 21), false);
  REQUIRE_FALSE(past);
  CHECK(past.error().status == 409);
  CHECK(past.error().error == "unproven_limit");
  CHECK(reg.unproven_through() == 20);
  // The genuine records replace the forged ones from seq 1: 10 wait after the first
  // batch (not 20 + 10), 20 after the second, and the checkpoint proves them.
  auto first = reg.store->post_records(lines(j, 1, 10), false);
  REQUIRE(first);
  CHECK(reg.summary()["unproven_records"] == 10);
  REQUIRE(reg.store->post_records(lines(j, 11, 20), false));
  CHECK(reg.summary()["unproven_records"] == 20);
  REQUIRE(reg.store->post_checkpoint(latest_note(j)));
  CHECK(reg.held() == 20);
  CHECK(reg.summary()["unproven_records"] == 0);
  CHECK(*reg.store->records(1, 10) == lines(j, 1, 10));  // a read: at most max_batch_records
  CHECK(*reg.store->records(11, 20) == lines(j, 11, 20));
}

TEST_CASE("registry: without pinned keys, a new key is taken only while the site holds no records", "[registry][hostile]") {
  test::TempDir site, other;
  Journal j = site_journal(site, 5);
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  REQUIRE(reg.store->register_key(test_key(other, "ecdsa-p256-test.key").pem()));  // before any record: taken
  REQUIRE(reg.store->post_records(lines(j, 1, 5), false));
  REQUIRE(reg.store->register_key(test_key(site).pem()));  // registered already: the same answer
  auto signer = Signer::generate(Algorithm::ed25519);
  REQUIRE(signer);
  auto late = reg.store->register_key(signer->public_pem());
  REQUIRE_FALSE(late);
  CHECK(late.error().status == 403);
  CHECK(late.error().error == "key_not_allowed");
  // Pinned at run time, it is taken; revoked, a key registers no more.
  reg.store->pin_key(*PublicKey::from_pem(signer->public_pem()));
  CHECK(reg.store->register_key(signer->public_pem()));
  auto third = Signer::generate(Algorithm::ed25519);
  REQUIRE(third);
  reg.store->pin_key(*PublicKey::from_pem(third->public_pem()));
  reg.store->revoke_key(PublicKey::from_pem(third->public_pem())->key_id_hex(), 1);
  auto revoked = reg.store->register_key(third->public_pem());
  REQUIRE_FALSE(revoked);
  CHECK(revoked.error().error == "key_revoked");
}

TEST_CASE("registry: a key revoked from seq s signs no record, checkpoint or report from s on", "[registry][enroll]") {
  test::TempDir site;
  Journal j = site_journal(site, 10);
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  reg.store->revoke_key(test_key(site).key_id_hex(), 6);
  auto refused = reg.store->post_records(lines(j, 1, 10), false);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().error == "key_revoked");
  CHECK(refused.error().seq == 6u);
  CHECK(json::parse(*reg.store->summary())["held_through"] == 0);  // the batch, whole or not at all
  REQUIRE(reg.store->post_records(lines(j, 1, 5), false));
  auto keys = json::parse(*reg.store->keys());
  CHECK(keys[0]["revoked_from_seq"] == 6);
  auto page = reg.store->page(1, 0);
  REQUIRE(page);
  CHECK(page->keys.at(0).revoked_from_seq == 6);
  CHECK(render_site_page(*page).find("from seq 6") != std::string::npos);
}

TEST_CASE("registry: site ids that differ only in / or : get files of their own", "[registry]") {
  CHECK(site_file_name("a/b") == "a%2Fb.db");
  CHECK(site_file_name("a_b") == "a_b.db");
  CHECK(site_file_name("a:b") == "a%3Ab.db");
  CHECK(site_file_name("plant-7.x") == "plant-7.x.db");
}

TEST_CASE("registry: a site record is verified like a reading and copied into the mirror's site_records",
          "[registry][site-record]") {
  test::TempDir site;
  Journal j = site_journal(site, 5);
  SiteRecord note;
  note.kind = SiteRecordKind::note;
  note.id = "0123456789abcdef0123456789abcdef";
  note.entered_by = "Saraa B.";
  note.login = "saraa";
  note.point = "m1";
  note.ts_ms = 2000;
  note.details = {{"text", "inverter tripped"}};
  auto reading = site_record_reading(note);
  REQUIRE(reading);
  AcceptedReading entry{*reading, ClockSample{2005, 1000, ClockSync::synchronised}, RecordType::site_record};
  REQUIRE(j.append(std::vector<AcceptedReading>{entry, test::accepted("m1", 3000, "9")}));
  Registry reg;
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  REQUIRE(reg.store->post_records(gz(lines(j, 1, 7)), true));
  CHECK(reg.held() == 7);
  auto stored = reg.store->records(1, 7);
  REQUIRE(stored);
  CHECK(*stored == lines(j, 1, 7));
  auto mirror = Journal::open_read_only(reg.dir.path() / "sites" / site_file_name("test-site"));
  REQUIRE(mirror);
  auto copies = mirror->site_records(UINT64_MAX);
  REQUIRE(copies);
  REQUIRE(copies->size() == 1);
  CHECK((*copies)[0].seq == 6);
  // One with its details changed after signing is refused like any altered record.
  std::string forged = lines(j, 6, 6);
  forged.replace(forged.find("inverter tripped"), 16, "inverter fine!!!");
  Registry other;
  REQUIRE(other.store->register_key(test_key(site).pem()));
  REQUIRE(other.store->post_records(gz(lines(j, 1, 5)), true));
  CHECK_FALSE(other.store->post_records(gz(forged), true));
  CHECK(other.held() == 5);
}

TEST_CASE("registry: the verifiers' page gathers coverage per day, keys and checkpoints", "[registry][page]") {
  test::TempDir site;
  Journal j = site_journal(site, 300);  // ts 1000..1299 ms: all on 1970-01-01
  Registry reg;
  auto before = reg.store->page(3, 2 * 86'400'000LL);
  REQUIRE(before);
  CHECK(before->keys.empty());
  CHECK(before->coverage.empty());
  CHECK(!before->latest);
  REQUIRE(reg.store->register_key(test_key(site).pem()));
  REQUIRE(reg.store->post_records(lines(j, 1, 300), false));
  REQUIRE(j.checkpoint("test"));
  REQUIRE(reg.store->post_checkpoint(latest_note(j)));

  auto p = reg.store->page(3, 2 * 86'400'000LL + 5);  // days 0, 1 and 2
  REQUIRE(p);
  CHECK(p->from_ms == 0);
  CHECK(p->to_ms == 3 * 86'400'000LL);
  CHECK(p->stats.record_count == 300);
  REQUIRE(p->coverage.size() == 1);
  const DayCoverage& d = p->coverage[0];
  CHECK(d.day_ms == 0);
  CHECK(d.records == 300);
  CHECK(d.points == 1);
  CHECK(d.first_ms == 1000);
  CHECK(d.last_ms == 1299);
  CHECK(d.first_seq == 1);
  CHECK(d.last_seq == 300);
  REQUIRE(p->keys.size() == 1);
  CHECK(p->keys[0].key_id == test_key(site).key_id_hex());
  CHECK(p->keys[0].signed_latest);
  CHECK(p->keys[0].tpm_activated_ms == 0);
  REQUIRE(p->latest);
  CHECK(p->latest->checkpoint.tree_size == 300);
  CHECK(!p->cosigned);  // this store has no cosigner

  std::string html = render_site_page(*p);
  CHECK(html.find("<span id=\"held\">300</span>") != std::string::npos);
  CHECK(html.find("2 days without a reading") != std::string::npos);
  CHECK(html.find("No checkpoint of this site is cosigned.") != std::string::npos);
  CHECK(html.find("This registry makes no bundles") != std::string::npos);

  auto later = reg.store->page(1, 5 * 86'400'000LL);  // a window after the readings
  REQUIRE(later);
  CHECK(later->coverage.empty());
  CHECK(render_site_page(*later).find("1 day without a reading") != std::string::npos);
}

TEST_CASE("registry: the verifiers' page escapes every text a site or a config gave", "[registry][page]") {
  SitePage p;
  p.site_id = "<script>alert(1)</script>";
  p.now_ms = 86'400'000;
  p.to_ms = 86'400'000;
  p.cosigner_name = "<img src=x onerror=alert(2)>";
  p.cosigner_key_id = "\"><script>";
  p.keys.push_back({"<b>k</b>", "<i>alg</i>", 1, 0, false});
  StoredCheckpoint c;
  c.checkpoint.tree_size = 1;
  c.checkpoint.note = "origin</pre><script>alert(3)</script>\n1\nAAAA\n\n";
  c.cosignatures = {"\xE2\x80\x94 <svg onload=alert(4)> AAAA"};
  p.cosigned = c;
  p.cosignatures.push_back({"<svg onload=alert(5)>", "00", 1, false});
  p.reports.push_back({"\" onmouseover=\"alert(6)", 1, 1});
  std::string html = render_site_page(p);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("<svg onload") == std::string::npos);
  CHECK(html.find("<b>k") == std::string::npos);
  CHECK(html.find("\" onmouseover") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("origin&lt;/pre&gt;") != std::string::npos);
}

TEST_CASE("registry: the list of sites escapes ids and encodes them in its links", "[registry][page]") {
  std::vector<SiteIndexEntry> sites{{"a/b<script>", "", 5, 5, 5, 1}, {"held\"back", "<b>damaged</b>", 0, 0, 0, 0}};
  std::string html = render_site_index(sites, 1);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<b>damaged") == std::string::npos);
  CHECK(html.find("href=\"/v1/sites/a%2Fb%3Cscript%3E/page\"") != std::string::npos);
  CHECK(html.find("href=\"/v1/sites/held%22back/page\"") != std::string::npos);
  CHECK(html.find("held back: &lt;b&gt;damaged") != std::string::npos);
}
