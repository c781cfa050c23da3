#include "mrv/core/merkle.hpp"

#include <openssl/evp.h>

#include <bit>

namespace mrv {
namespace {

// One EVP context per thread, freed when the thread ends: the tree hashes millions of
// nodes in a verify, and fetching SHA-256 for each would cost more than the hash.
struct DigestContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  ~DigestContext() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

Sha256 digest_prefixed(uint8_t prefix, std::string_view a, std::string_view b = {}) {
  thread_local DigestContext d;
  Sha256 out{};
  unsigned len = 0;
  EVP_DigestInit_ex(d.ctx, d.md, nullptr);
  EVP_DigestUpdate(d.ctx, &prefix, 1);
  EVP_DigestUpdate(d.ctx, a.data(), a.size());
  if (!b.empty()) EVP_DigestUpdate(d.ctx, b.data(), b.size());
  EVP_DigestFinal_ex(d.ctx, out.data(), &len);
  return out;
}

std::string_view bytes_of(const Sha256& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

// The largest power of two strictly below n (n >= 2): RFC 9162's split point k.
uint64_t split_point(uint64_t n) { return uint64_t{1} << (63 - std::countl_zero(n - 1)); }

Error proof_error(std::string why) { return Error{ErrorCode::invalid_argument, "merkle", std::move(why)}; }

Result<void> inclusion_path(const NodeSource& nodes, uint64_t index, uint64_t begin, uint64_t end,
                            std::vector<Sha256>& out) {
  uint64_t n = end - begin;
  if (n <= 1) return {};
  uint64_t k = split_point(n);
  bool left = index < k;
  auto sub = left ? inclusion_path(nodes, index, begin, begin + k, out)
                  : inclusion_path(nodes, index - k, begin + k, end, out);
  if (!sub) return sub;
  auto sibling = left ? merkle_range_root(nodes, begin + k, end) : merkle_range_root(nodes, begin, begin + k);
  if (!sibling) return tl::unexpected(sibling.error());
  out.push_back(*sibling);
  return {};
}

Result<void> consistency_subproof(const NodeSource& nodes, uint64_t m, uint64_t begin, uint64_t end,
                                  bool whole, std::vector<Sha256>& out) {
  uint64_t n = end - begin;
  if (m == n) {
    if (whole) return {};
    auto root = merkle_range_root(nodes, begin, end);
    if (!root) return tl::unexpected(root.error());
    out.push_back(*root);
    return {};
  }
  uint64_t k = split_point(n);
  bool left = m <= k;
  auto sub = left ? consistency_subproof(nodes, m, begin, begin + k, whole, out)
                  : consistency_subproof(nodes, m - k, begin + k, end, false, out);
  if (!sub) return sub;
  auto sibling = left ? merkle_range_root(nodes, begin + k, end) : merkle_range_root(nodes, begin, begin + k);
  if (!sibling) return tl::unexpected(sibling.error());
  out.push_back(*sibling);
  return {};
}

}  // namespace

Sha256 merkle_leaf_hash(std::string_view record) { return digest_prefixed(0x00, record); }
Sha256 merkle_node_hash(const Sha256& left, const Sha256& right) {
  return digest_prefixed(0x01, bytes_of(left), bytes_of(right));
}
Sha256 merkle_empty_root() { return sha256(""); }
Sha256 merkle_absent_leaf() { return merkle_leaf_hash(""); }
Sha256 merkle_absent_root(unsigned level) {
  Sha256 h = merkle_absent_leaf();
  for (unsigned l = 0; l < level; ++l) h = merkle_node_hash(h, h);
  return h;
}

std::vector<SubtreeId> aligned_subtrees(uint64_t begin, uint64_t end) {
  std::vector<SubtreeId> out;
  while (begin < end) {
    unsigned level = begin == 0 ? 63u : static_cast<unsigned>(std::countr_zero(begin));
    while ((uint64_t{1} << level) > end - begin) --level;
    out.push_back({level, begin >> level});
    begin += uint64_t{1} << level;
  }
  return out;
}

Result<MerkleFrontier> MerkleFrontier::from_nodes(uint64_t size, std::span<const Sha256> nodes) {
  auto tiles = aligned_subtrees(0, size);
  if (tiles.size() != nodes.size())
    return tl::unexpected(proof_error("a tree of size " + std::to_string(size) + " needs " +
                                      std::to_string(tiles.size()) + " frontier nodes, got " +
                                      std::to_string(nodes.size())));
  MerkleFrontier f;
  f.size_ = size;
  f.nodes_.assign(nodes.begin(), nodes.end());
  for (const SubtreeId& t : tiles) f.levels_.push_back(t.level);
  return f;
}

void MerkleFrontier::push_leaf(const Sha256& leaf,
                               const std::function<void(unsigned, uint64_t, const Sha256&)>& on_complete) {
  Sha256 h = leaf;
  unsigned level = 0;
  uint64_t new_size = size_ + 1;
  while (!levels_.empty() && levels_.back() == level) {
    h = merkle_node_hash(nodes_.back(), h);
    nodes_.pop_back();
    levels_.pop_back();
    ++level;
    if (on_complete) on_complete(level, (new_size >> level) - 1, h);
  }
  nodes_.push_back(h);
  levels_.push_back(level);
  size_ = new_size;
}

bool MerkleFrontier::push_subtree(unsigned level, const Sha256& hash,
                                  const std::function<void(unsigned, uint64_t, const Sha256&)>& on_complete) {
  if (level >= 63 || size_ % (uint64_t{1} << level) != 0) return false;
  Sha256 h = hash;
  unsigned l = level;
  uint64_t new_size = size_ + (uint64_t{1} << level);
  while (!levels_.empty() && levels_.back() == l) {
    h = merkle_node_hash(nodes_.back(), h);
    nodes_.pop_back();
    levels_.pop_back();
    ++l;
    if (on_complete) on_complete(l, (new_size >> l) - 1, h);
  }
  nodes_.push_back(h);
  levels_.push_back(l);
  size_ = new_size;
  return true;
}

Sha256 MerkleFrontier::root() const {
  if (nodes_.empty()) return merkle_empty_root();
  Sha256 h = nodes_.back();
  for (size_t i = nodes_.size() - 1; i-- > 0;) h = merkle_node_hash(nodes_[i], h);
  return h;
}

Result<Sha256> merkle_range_root(const NodeSource& nodes, uint64_t begin, uint64_t end) {
  if (end <= begin) return tl::unexpected(proof_error("empty range"));
  uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0)
    return nodes({static_cast<unsigned>(std::countr_zero(n)), begin / n});
  uint64_t k = split_point(n);
  auto left = merkle_range_root(nodes, begin, begin + k);
  if (!left) return left;
  auto right = merkle_range_root(nodes, begin + k, end);
  if (!right) return right;
  return merkle_node_hash(*left, *right);
}

Result<std::vector<Sha256>> merkle_inclusion_proof(const NodeSource& nodes, uint64_t index,
                                                   uint64_t size) {
  if (index >= size)
    return tl::unexpected(proof_error("leaf " + std::to_string(index) + " is not in a tree of size " +
                                      std::to_string(size)));
  std::vector<Sha256> out;
  if (auto r = inclusion_path(nodes, index, 0, size, out); !r) return tl::unexpected(r.error());
  return out;
}

Result<std::vector<Sha256>> merkle_consistency_proof(const NodeSource& nodes, uint64_t old_size,
                                                     uint64_t new_size) {
  if (old_size == 0 || old_size > new_size)
    return tl::unexpected(proof_error("no consistency proof from size " + std::to_string(old_size) +
                                      " to size " + std::to_string(new_size)));
  std::vector<Sha256> out;
  if (auto r = consistency_subproof(nodes, old_size, 0, new_size, true, out); !r)
    return tl::unexpected(r.error());
  return out;
}

bool merkle_verify_inclusion(uint64_t index, uint64_t size, const Sha256& leaf,
                             std::span<const Sha256> proof, const Sha256& root) {
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  Sha256 r = leaf;
  for (const Sha256& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      r = merkle_node_hash(p, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = merkle_node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const Sha256& old_root,
                               const Sha256& new_root, std::span<const Sha256> proof) {
  if (old_size == 0 || old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (proof.empty()) return false;
  std::vector<Sha256> path;
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Sha256 fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Sha256& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      fr = merkle_node_hash(c, fr);
      sr = merkle_node_hash(c, sr);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = merkle_node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

}  // namespace mrv
