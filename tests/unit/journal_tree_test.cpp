// The journal's Merkle tree and checkpoints: the stored tree equals a recomputation from
// the records, survives reopening and pruning, and its checkpoints verify.
#include <catch2/catch.hpp>

#include <bit>
#include <cstring>

#include "head_anchor.hpp"
#include "mrv/core/canonical.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {

void fill(Journal& j, int64_t& ts, int batches, int per_batch) {
  for (int b = 0; b < batches; ++b) {
    std::vector<AcceptedReading> batch;
    for (int i = 0; i < per_batch; ++i, ++ts) batch.push_back(test::accepted("m1", ts, std::to_string(ts)));
    REQUIRE(j.append(batch));
  }
}

// MTH over the leaf hashes of every record, recomputed leaf by leaf.
Sha256 recomputed_root(Journal& j, uint64_t size) {
  MerkleFrontier f;
  REQUIRE(j.for_each_record(1, size, [&](const StoredRecord& r) { f.push_leaf(merkle_leaf_hash(r.canonical)); }));
  REQUIRE(f.size() == size);
  return f.root();
}

}  // namespace

TEST_CASE("journal tree: stored roots and proofs match the records, across reopen", "[tree]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  o.checkpoint_interval_ms = 1;  // a checkpoint with every batch
  int64_t ts = 0;
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    fill(*j, ts, 7, 97);  // 679 leaves: several full chunks and a partial one
  }
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  fill(*j, ts, 3, 55);  // continues the tree from what was stored
  auto size = j->tree_size();
  REQUIRE(size);
  CHECK(*size == 844);
  NodeSource nodes = j->tree_nodes();
  for (uint64_t n : {1u, 255u, 256u, 257u, 679u, 700u, 844u}) {
    INFO("size " << n);
    CHECK(*merkle_range_root(nodes, 0, n) == recomputed_root(*j, n));
  }
  // Every checkpoint signs the root of its size.
  auto cps = j->checkpoints(0, UINT64_MAX);
  REQUIRE(cps);
  CHECK(cps->size() >= 10);
  auto key = PublicKey::from_pem(test::test_signer(dir).public_pem());
  for (const StoredCheckpoint& c : *cps) {
    CHECK(verify_checkpoint(c.checkpoint, *key));
    CHECK(c.checkpoint.origin == "mrv-agent/test-site");
    CHECK(c.checkpoint.root == *merkle_range_root(nodes, 0, c.checkpoint.tree_size));
  }
  // Inclusion and consistency proofs from stored nodes verify.
  Sha256 root = *merkle_range_root(nodes, 0, 844);
  std::string record500;
  REQUIRE(j->for_each_record(500, 500, [&](const StoredRecord& r) { record500 = r.canonical; }));
  auto inclusion = merkle_inclusion_proof(nodes, 499, 844);
  REQUIRE(inclusion);
  CHECK(merkle_verify_inclusion(499, 844, merkle_leaf_hash(record500), *inclusion, root));
  auto consistency = merkle_consistency_proof(nodes, 300, 844);
  REQUIRE(consistency);
  CHECK(merkle_verify_consistency(300, 844, recomputed_root(*j, 300), root, *consistency));
}

TEST_CASE("journal tree: a checkpoint is made at start, when due, and not when nothing is new", "[tree]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  o.checkpoint_interval_ms = 3'600'000;
  int64_t ts = 0;
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    fill(*j, ts, 1, 10);
    CHECK(j->checkpoint_due());  // ten records are not covered yet
    CHECK(j->checkpoints(0, UINT64_MAX)->empty());
    // kill -9 here: no stop checkpoint
  }
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  auto cps = j->checkpoints(0, UINT64_MAX);
  REQUIRE(cps->size() == 1);
  CHECK(cps->front().reason == "start");
  CHECK(cps->front().checkpoint.tree_size == 10);
  CHECK_FALSE(j->checkpoint_due());
  auto again = j->checkpoint("stop");
  REQUIRE(again);
  CHECK_FALSE(again->has_value());  // the tree has not grown
  o.checkpoint_max_records = 25;  // by count, whatever the interval
  j = tl::unexpected(Error{ErrorCode::not_found, "", "closed"});
  j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  fill(*j, ts, 3, 10);
  cps = j->checkpoints(11, UINT64_MAX);
  std::erase_if(*cps, [](const StoredCheckpoint& c) { return c.reason == "boundary"; });  // a quarter hour passed
  REQUIRE(cps->size() == 1);
  CHECK(cps->front().checkpoint.tree_size == 40);
  CHECK(cps->front().reason == "records");  // at the first commit that reaches 25 (30 here)
}

TEST_CASE("journal tree: pruning keeps what proofs from old checkpoints need", "[tree][quota]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  o.checkpoint_interval_ms = 1;
  int64_t ts = 0;
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  fill(*j, ts, 1, 300);
  Sha256 root_at_300 = *merkle_range_root(j->tree_nodes(), 0, 300);
  fill(*j, ts, 4, 500);
  REQUIRE(j->set_upload_cursor(2000));
  REQUIRE(*j->prune_receipted() == 2000);
  CHECK(j->stats()->first_seq == 2001);  // the records around checkpoint 300 are gone
  NodeSource nodes = j->tree_nodes();
  auto size = *j->tree_size();
  CHECK(size == 2300);
  auto consistency = merkle_consistency_proof(nodes, 300, size);
  REQUIRE(consistency);
  CHECK(merkle_verify_consistency(300, size, root_at_300, *merkle_range_root(nodes, 0, size), *consistency));
  // A size no checkpoint names, inside pruned leaves, cannot be proven any more.
  CHECK_FALSE(merkle_range_root(nodes, 0, 301));
}

TEST_CASE("journal tree: checkpoint-only records carry no signature and chain as usual", "[tree]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  o.checkpoint_only = true;
  o.checkpoint_interval_ms = 1000;
  int64_t ts = 0;
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  fill(*j, ts, 2, 20);
  size_t n = 0;
  REQUIRE(j->for_each_record(1, 40, [&](const StoredRecord& r) {
    CHECK(r.signature.empty());
    auto f = decode_record(r.canonical);
    REQUIRE(f);
    CHECK(f->algorithm == kCheckpointOnlyAlg);
    ++n;
  }));
  CHECK(n == 40);
  auto tail = j->check_tail(100);
  REQUIRE(tail);
  CHECK(tail->intact);
}

TEST_CASE("checkpoint notes: sign, parse and verify; other keys and edits fail", "[tree]") {
  test::TempDir dir;
  for (const char* name : {"ed25519-test.key", "ecdsa-p256-test.key"}) {
    Signer signer = test::test_signer(dir, name);
    auto pub = PublicKey::from_pem(signer.public_pem());
    Sha256 root = sha256("root");
    auto c = sign_checkpoint(signer, *pub, "mrv-agent/site-1", 42, root, 1767225600000);
    REQUIRE(c);
    CHECK(c->note.starts_with("mrv-agent/site-1\n42\n" + to_base64({reinterpret_cast<const char*>(root.data()), 32}) +
                              "\nmrv-time-ms 1767225600000\n\n\xE2\x80\x94 mrv-agent/site-1 "));
    auto parsed = parse_checkpoint(c->note);
    REQUIRE(parsed);
    CHECK(parsed->tree_size == 42);
    CHECK(parsed->root == root);
    CHECK(parsed->time_ms == 1767225600000);
    CHECK(verify_checkpoint(*parsed, *pub));
    auto edited = parse_checkpoint(std::string(c->note).replace(c->note.find("\n42\n"), 4, "\n43\n"));
    REQUIRE(edited);
    CHECK_FALSE(verify_checkpoint(*edited, *pub));
    auto other = Signer::generate(signer.algorithm());
    CHECK_FALSE(verify_checkpoint(*parsed, *PublicKey::from_pem(other->public_pem())));
  }
  CHECK_FALSE(parse_checkpoint("no blank line\n"));
  CHECK_FALSE(parse_checkpoint("o\n042\nAAAA\n\n— o x\n"));
  CHECK_FALSE(parse_checkpoint("o\n1\nnot base64!\n\n— o x\n"));
}

TEST_CASE("checkpoint notes: the example in docs/verification.md verifies", "[tree]") {
  test::TempDir dir;
  auto key = PublicKey::from_pem(test::test_signer(dir).public_pem());
  auto spec = test::read_text(std::filesystem::path(MRV_TEST_VECTORS) / "../../docs/verification.md");
  size_t begin = spec.find("```\nmrv-agent/plant-7\n");
  REQUIRE(begin != std::string::npos);
  begin += 4;
  std::string note = spec.substr(begin, spec.find("```", begin) - begin);
  auto c = parse_checkpoint(note);
  REQUIRE(c);
  CHECK(c->tree_size == 1042);
  CHECK(c->time_ms == 1767225660123);
  CHECK(verify_checkpoint(*c, *key));
}

namespace {
// RFC 9162 MTH by its definition, for a tree whose leaves [absent_from, absent_to) are
// absent: the oracle for a long skip.
Sha256 mth_with_gap(const std::vector<Sha256>& real, uint64_t absent_from, uint64_t absent_to, const Sha256& last,
                    uint64_t lo, uint64_t hi) {
  uint64_t n = hi - lo;
  if (lo >= absent_from && hi <= absent_to && std::has_single_bit(n)) {
    Sha256 h = merkle_absent_leaf();
    for (uint64_t w = 1; w < n; w *= 2) h = merkle_node_hash(h, h);
    return h;
  }
  if (n == 1) return lo < absent_from ? real[lo] : lo >= absent_to ? last : merkle_absent_leaf();
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return merkle_node_hash(mth_with_gap(real, absent_from, absent_to, last, lo, lo + k),
                          mth_with_gap(real, absent_from, absent_to, last, lo + k, hi));
}
}  // namespace

TEST_CASE("journal tree: a long skip before a chain segment costs a row, and proofs hold", "[tree]") {
  test::TempDir dir;
  auto o = test::journal_options(dir);
  int64_t ts = 0;
  std::vector<Sha256> real;
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    fill(*j, ts, 1, 300);
    REQUIRE(j->checkpoint("stop"));
    REQUIRE(j->for_each_record(1, 300, [&](const StoredRecord& r) { real.push_back(merkle_leaf_hash(r.canonical)); }));
  }
  Sha256 root_300 = *merkle_range_root(Journal::open_read_only(o.path)->tree_nodes(), 0, 300);
  // The anchor says the journal reached seq 5,000,000: it was rolled back (or replaced).
  REQUIRE(write_head_anchor(o.path, {5'000'000, std::string(64, 'a')}));
  auto j = Journal::open_for_writing(o, test::test_signer(dir));
  REQUIRE(j);
  CHECK_FALSE(j->chain_check_at_open().intact);
  CHECK(j->last_seq() == 5'000'001);
  CHECK(*j->tree_size() == 5'000'001);
  std::string segment;
  REQUIRE(j->for_each_record(5'000'001, 5'000'001, [&](const StoredRecord& r) { segment = r.canonical; }));
  Sha256 last = merkle_leaf_hash(segment);
  NodeSource nodes = j->tree_nodes();
  Sha256 root = *merkle_range_root(nodes, 0, 5'000'001);
  CHECK(root == mth_with_gap(real, 300, 5'000'000, last, 0, 5'000'001));
  auto inclusion = merkle_inclusion_proof(nodes, 5'000'000, 5'000'001);
  REQUIRE(inclusion);
  CHECK(merkle_verify_inclusion(5'000'000, 5'000'001, last, *inclusion, root));
  auto consistency = merkle_consistency_proof(nodes, 300, 5'000'001);
  REQUIRE(consistency);
  CHECK(merkle_verify_consistency(300, 5'000'001, root_300, root, *consistency));
  // The start checkpoint signed that root; the journal grew by one row of absent range.
  auto latest = j->latest_checkpoint();
  REQUIRE(latest);
  REQUIRE(*latest);
  CHECK((*latest)->checkpoint.root == root);
  CHECK(std::filesystem::file_size(o.path) < 4u << 20);
  // Appending after the skip continues the same tree.
  fill(*j, ts, 1, 10);
  CHECK(*merkle_range_root(j->tree_nodes(), 0, 5'000'011) ==
        [&] {
          MerkleFrontier f = *MerkleFrontier::from_nodes(5'000'001, [&] {
            std::vector<Sha256> v;
            for (SubtreeId t : aligned_subtrees(0, 5'000'001)) v.push_back(*nodes(t));
            return v;
          }());
          REQUIRE(j->for_each_record(5'000'002, 5'000'011, [&](const StoredRecord& r) {
            f.push_leaf(merkle_leaf_hash(r.canonical));
          }));
          return f.root();
        }());
}

namespace {

// The tree over seq 1..size recomputed from the records alone: a seq the journal never
// held (skipped before a chain segment) is an absent leaf.
Sha256 recomputed_root_with_gaps(Journal& j, uint64_t size) {
  MerkleFrontier f;
  REQUIRE(j.for_each_record(1, size, [&](const StoredRecord& r) {
    while (f.size() + 1 < r.seq) f.push_leaf(merkle_absent_leaf());
    f.push_leaf(merkle_leaf_hash(r.canonical));
  }));
  REQUIRE(f.size() == size);
  return f.root();
}

// A journal restored from its copy at seq `old_head` after it had reached `anchored`.
void roll_back(const test::TempDir& dir, const JournalOptions& o, int64_t& ts, int old_head, int anchored) {
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    fill(*j, ts, 1, old_head);
  }
  auto copy = dir / "old.db";
  std::filesystem::copy_file(o.path, copy);
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    fill(*j, ts, 1, anchored - old_head);
  }
  std::filesystem::copy_file(copy, o.path, std::filesystem::copy_options::overwrite_existing);
  for (const char* suffix : {"-wal", "-shm"}) std::filesystem::remove(o.path.string() + suffix);
}

MirrorRecord mirror_record(const StoredRecord& r) {
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
  return m;
}

}  // namespace

TEST_CASE("journal tree: a journal with a declared chain break reopens again and again, and its tree holds", "[tree][journal]") {
  // Old head and anchored head: inside the first chunk of 256 leaves; a full chunk
  // written before the break and a partial one after; a skip over whole chunks.
  auto [old_head, anchored] = GENERATE(std::pair{40, 80}, std::pair{300, 1000}, std::pair{250, 260});
  INFO("rolled back from seq " << anchored << " to " << old_head);
  test::TempDir dir;
  auto o = test::journal_options(dir);
  int64_t ts = 0;
  roll_back(dir, o, ts, old_head, anchored);
  auto segment_seq = static_cast<uint64_t>(anchored) + 1;
  {
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    CHECK_FALSE(j->chain_check_at_open().intact);
    CHECK(j->last_seq() == segment_seq);
  }
  uint64_t head = segment_seq;
  for (int restart = 1; restart <= 2; ++restart) {
    INFO("restart " << restart);
    auto j = Journal::open_for_writing(o, test::test_signer(dir));
    REQUIRE(j);
    CHECK(j->chain_check_at_open().intact);  // declared once, not again
    CHECK(j->last_seq() == head);
    fill(*j, ts, 1, 10);
    head += 10;
    CHECK(j->last_seq() == head);
    CHECK(*j->tree_size() == head);
    CHECK(*merkle_range_root(j->tree_nodes(), 0, head) == recomputed_root_with_gaps(*j, head));
    auto latest = j->latest_checkpoint();
    REQUIRE(latest);
    REQUIRE(*latest);
    CHECK((*latest)->checkpoint.root == recomputed_root_with_gaps(*j, (*latest)->checkpoint.tree_size));
  }

  SECTION("a registry's mirror of it reopens too, and holds the same tree") {
    auto source = Journal::open_read_only(o.path);
    REQUIRE(source);
    std::vector<MirrorRecord> before, after;
    REQUIRE(source->for_each_record(1, head, [&](const StoredRecord& r) {
      (r.seq <= segment_seq ? before : after).push_back(mirror_record(r));
    }));
    auto mirror_path = dir / "mirror.db";
    {
      auto m = Journal::open_mirror(mirror_path);
      REQUIRE(m);
      REQUIRE(m->ingest(before));  // up to and with the chain segment
    }
    for (size_t part = 0; part < 2; ++part) {
      INFO("mirror reopened " << part + 1 << " time(s)");
      auto m = Journal::open_mirror(mirror_path);
      REQUIRE(m);
      CHECK(m->last_seq() == (part == 0 ? segment_seq : segment_seq + 10));
      REQUIRE(m->ingest(std::span(after).subspan(part * 10, 10)));
    }
    auto m = Journal::open_mirror(mirror_path);
    REQUIRE(m);
    CHECK(m->last_seq() == head);
    CHECK(*m->tree_root(head) == recomputed_root_with_gaps(*source, head));
  }
}
