#pragma once
// The witnesses of the journal's head that the agent keeps besides the head anchor
// (docs/journal.md, "Witnesses of the head"), gathered before the journal opens:
//   - the state file beside the journal: the last seq the writer had committed;
//   - with [upload], the registry: its newest record (seq and hash) and newest
//     checkpoint, which survive the loss of every file at the site, and the records it
//     holds, which a journal that lost them takes back.
// The registry is believed only when its newest record (or checkpoint) is signed by a
// key of this journal (`signer`'s, or one that signed records in it): a registry that
// holds another history is no witness of this one. A witness that cannot be read is
// left out and logged: an unreachable registry must not stop the agent collecting.
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::agent {

std::vector<HeadWitness> head_witnesses(const Config& config, const Signer& signer);

}  // namespace mrv::agent
