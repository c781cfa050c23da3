// The Merkle tree against RFC 9162: fixed vectors from tests/vectors/make_merkle_vectors.py
// (a naive Python recomputation of the RFC's definitions, checked against the published
// Certificate Transparency roots) and a randomized comparison with a naive C++ MTH.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <random>

#include "mrv/core/merkle.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {

Sha256 hash_of(const std::string& hex) {
  auto raw = from_hex(hex);
  REQUIRE(raw);
  Sha256 h{};
  std::copy(raw->begin(), raw->end(), h.begin());
  return h;
}

// RFC 9162 MTH by its recursive definition: the oracle.
Sha256 naive_root(const std::vector<Sha256>& leaves, size_t begin, size_t end) {
  if (end - begin == 1) return leaves[begin];
  size_t k = 1;
  while (k * 2 < end - begin) k *= 2;
  return merkle_node_hash(naive_root(leaves, begin, begin + k), naive_root(leaves, begin + k, end));
}

// A node source over an in-memory list of leaf hashes, counting its lookups.
struct LeafStore {
  std::vector<Sha256> leaves;
  size_t lookups = 0;
  NodeSource source() {
    return [this](SubtreeId id) -> Result<Sha256> {
      ++lookups;
      uint64_t width = uint64_t{1} << id.level;
      if ((id.index + 1) * width > leaves.size()) return fail(ErrorCode::not_found, "test", "beyond the tree");
      return naive_root(leaves, id.index * width, (id.index + 1) * width);
    };
  }
};

std::vector<Sha256> hashes(const nlohmann::json& list) {
  std::vector<Sha256> out;
  for (const auto& h : list) out.push_back(hash_of(h.get<std::string>()));
  return out;
}

}  // namespace

TEST_CASE("merkle: fixed RFC 9162 vectors for trees of size 1..9") {
  auto vectors = nlohmann::json::parse(
      test::read_text(std::filesystem::path(MRV_TEST_VECTORS) / "merkle.json"));
  LeafStore store;
  for (const auto& hex : vectors["leaves_hex"]) store.leaves.push_back(merkle_leaf_hash(*from_hex(hex.get<std::string>())));
  CHECK(to_hex(merkle_empty_root()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

  for (const auto& tree : vectors["trees"]) {
    uint64_t n = tree["size"];
    Sha256 root = hash_of(tree["root"]);
    MerkleFrontier frontier;
    for (uint64_t i = 0; i < n; ++i) frontier.push_leaf(store.leaves[i]);
    INFO("size " << n);
    CHECK(frontier.root() == root);
    CHECK(*merkle_range_root(store.source(), 0, n) == root);
    for (uint64_t i = 0; i < n; ++i) {
      auto expected = hashes(tree["inclusion"][i]);
      auto proof = merkle_inclusion_proof(store.source(), i, n);
      REQUIRE(proof);
      CHECK(*proof == expected);
      CHECK(merkle_verify_inclusion(i, n, store.leaves[i], expected, root));
      if (!expected.empty()) {
        auto bad = expected;
        bad[0][0] ^= 1;
        CHECK_FALSE(merkle_verify_inclusion(i, n, store.leaves[i], bad, root));
      }
      if (n > 1) CHECK_FALSE(merkle_verify_inclusion((i + 1) % n, n, store.leaves[i], expected, root));
    }
    for (uint64_t m = 1; m <= n; ++m) {
      auto expected = hashes(tree["consistency"][std::to_string(m)]);
      auto proof = merkle_consistency_proof(store.source(), m, n);
      REQUIRE(proof);
      CHECK(*proof == expected);
      Sha256 old_root = naive_root(store.leaves, 0, m);
      CHECK(merkle_verify_consistency(m, n, old_root, root, expected));
      Sha256 forked = old_root;
      forked[5] ^= 0x40;
      CHECK_FALSE(merkle_verify_consistency(m, n, forked, root, expected));
      if (!expected.empty()) {
        auto bad = expected;
        bad.back()[0] ^= 1;
        CHECK_FALSE(merkle_verify_consistency(m, n, old_root, root, bad));
      }
    }
  }
}

TEST_CASE("merkle: randomized trees agree with a naive recomputation") {
  std::mt19937_64 rng(20261125);
  LeafStore store;
  for (int i = 0; i < 300; ++i) store.leaves.push_back(merkle_leaf_hash(std::to_string(rng())));
  MerkleFrontier frontier;
  std::vector<std::pair<unsigned, uint64_t>> completed;
  for (uint64_t n = 1; n <= store.leaves.size(); ++n) {
    frontier.push_leaf(store.leaves[n - 1], [&](unsigned level, uint64_t index, const Sha256& h) {
      uint64_t w = uint64_t{1} << level;
      CHECK(h == naive_root(store.leaves, index * w, (index + 1) * w));
      completed.emplace_back(level, index);
    });
    REQUIRE(frontier.root() == naive_root(store.leaves, 0, n));
    // The frontier rebuilt from stored subtrees equals the one grown leaf by leaf.
    std::vector<Sha256> nodes;
    for (SubtreeId t : aligned_subtrees(0, n)) nodes.push_back(*store.source()(t));
    CHECK(MerkleFrontier::from_nodes(n, nodes)->root() == frontier.root());
  }
  CHECK(completed.size() == 300 - std::popcount(300u));  // every internal node once
  for (int trial = 0; trial < 400; ++trial) {
    uint64_t n = 1 + rng() % store.leaves.size();
    uint64_t m = 1 + rng() % n;
    uint64_t i = rng() % n;
    Sha256 root = naive_root(store.leaves, 0, n);
    store.lookups = 0;
    auto inclusion = merkle_inclusion_proof(store.source(), i, n);
    REQUIRE(inclusion);
    CHECK(inclusion->size() <= 9);
    CHECK(store.lookups <= 2 * 9 + 2);  // O(log n) stored nodes, not O(n)
    CHECK(merkle_verify_inclusion(i, n, store.leaves[i], *inclusion, root));
    if (n > 1) CHECK_FALSE(merkle_verify_inclusion(i, n, store.leaves[(i + 1) % n], *inclusion, root));
    auto consistency = merkle_consistency_proof(store.source(), m, n);
    REQUIRE(consistency);
    CHECK(merkle_verify_consistency(m, n, naive_root(store.leaves, 0, m), root, *consistency));
    if (m < n) {
      CHECK_FALSE(merkle_verify_consistency(m, n, naive_root(store.leaves, 1, m + 1), root, *consistency));
    }
    // A range [lo, hi) with its left frontier and right tiles recomputes the root: the
    // bundle's range proof.
    uint64_t lo = rng() % n, hi = lo + 1 + rng() % (n - lo);
    std::vector<Sha256> left;
    for (SubtreeId t : aligned_subtrees(0, lo)) left.push_back(*store.source()(t));
    auto f = MerkleFrontier::from_nodes(lo, left);
    REQUIRE(f);
    for (uint64_t k = lo; k < hi; ++k) f->push_leaf(store.leaves[k]);
    for (SubtreeId t : aligned_subtrees(hi, n)) REQUIRE(f->push_subtree(t.level, *store.source()(t)));
    CHECK(f->root() == root);
  }
  CHECK_FALSE(merkle_consistency_proof(store.source(), 0, 5));
  CHECK_FALSE(merkle_inclusion_proof(store.source(), 5, 5));
}

TEST_CASE("merkle: aligned subtrees tile a range") {
  CHECK(aligned_subtrees(0, 0).empty());
  CHECK(aligned_subtrees(0, 13) == std::vector<SubtreeId>{{3, 0}, {2, 2}, {0, 12}});
  CHECK(aligned_subtrees(5, 16) == std::vector<SubtreeId>{{0, 5}, {1, 3}, {3, 1}});
  MerkleFrontier f;
  CHECK(f.push_subtree(2, merkle_empty_root()));
  CHECK_FALSE(f.push_subtree(3, merkle_empty_root()));  // size 4 is not a multiple of 8
}
