#pragma once
// The Merkle tree over the journal, as RFC 9162 §2.1 defines it: leaf index i holds the
// record with seq i + 1, so a tree of size n covers seq 1..n (docs/verification.md §2).
//   leaf hash  SHA-256(0x00 || record bytes)
//   node hash  SHA-256(0x01 || left || right)
//   empty tree SHA-256("")
// Proofs are built from a NodeSource that returns the hash of an aligned complete
// subtree (level L, index i covers leaves [i·2^L, (i+1)·2^L)), so the journal can answer
// from the nodes it stores in O(log n) lookups.
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "mrv/core/crypto.hpp"
#include "mrv/core/error.hpp"

namespace mrv {

Sha256 merkle_leaf_hash(std::string_view record);
Sha256 merkle_node_hash(const Sha256& left, const Sha256& right);
Sha256 merkle_empty_root();
// The leaf of a seq the journal never held (skipped before a chain-segment record), and
// the root of 2^level such leaves.
Sha256 merkle_absent_leaf();
Sha256 merkle_absent_root(unsigned level);

// An aligned complete subtree: level L, index i.
struct SubtreeId {
  unsigned level = 0;
  uint64_t index = 0;
  bool operator==(const SubtreeId&) const = default;
};

// The maximal aligned complete subtrees that tile [begin, end), left to right.
std::vector<SubtreeId> aligned_subtrees(uint64_t begin, uint64_t end);

// The compact range [0, size): the roots of the aligned subtrees that tile it, largest
// first. Enough to append leaves and to compute the root, in O(log n) space.
class MerkleFrontier {
 public:
  MerkleFrontier() = default;
  // From the roots of aligned_subtrees(0, size), in that order.
  [[nodiscard]] static Result<MerkleFrontier> from_nodes(uint64_t size, std::span<const Sha256> nodes);

  uint64_t size() const { return size_; }
  const std::vector<Sha256>& nodes() const { return nodes_; }
  // Appends one leaf. `on_complete(level, index, hash)` is called for every subtree the
  // leaf completes at level >= 1.
  void push_leaf(const Sha256& leaf,
                 const std::function<void(unsigned, uint64_t, const Sha256&)>& on_complete = {});
  // Appends a whole aligned subtree of 2^level leaves; false when size() is not a
  // multiple of 2^level (the subtree would not be aligned).
  [[nodiscard]] bool push_subtree(unsigned level, const Sha256& hash,
                                  const std::function<void(unsigned, uint64_t, const Sha256&)>& on_complete = {});
  Sha256 root() const;

 private:
  uint64_t size_ = 0;
  std::vector<Sha256> nodes_;    // one per set bit of size_, largest subtree first
  std::vector<unsigned> levels_;
};

using NodeSource = std::function<Result<Sha256>(SubtreeId)>;

// MTH(D[begin:end]) from stored aligned subtrees.
[[nodiscard]] Result<Sha256> merkle_range_root(const NodeSource& nodes, uint64_t begin, uint64_t end);
// RFC 9162 §2.1.3.1 PATH(index, D[0:size]).
[[nodiscard]] Result<std::vector<Sha256>> merkle_inclusion_proof(const NodeSource& nodes,
                                                                 uint64_t index, uint64_t size);
// RFC 9162 §2.1.4.1 PROOF(old_size, D[0:new_size]).
[[nodiscard]] Result<std::vector<Sha256>> merkle_consistency_proof(const NodeSource& nodes,
                                                                   uint64_t old_size,
                                                                   uint64_t new_size);
// RFC 9162 §2.1.3.2 and §2.1.4.2.
bool merkle_verify_inclusion(uint64_t index, uint64_t size, const Sha256& leaf,
                             std::span<const Sha256> proof, const Sha256& root);
bool merkle_verify_consistency(uint64_t old_size, uint64_t new_size, const Sha256& old_root,
                               const Sha256& new_root, std::span<const Sha256> proof);

}  // namespace mrv
