#pragma once
// The witnesses of the journal's head that the agent keeps besides the head anchor
// (docs/journal.md, "Witnesses of the head"), gathered before the journal opens:
//   - the state file beside the journal: the last seq the writer had committed;
//   - with [upload], the registry: the newest record it holds (seq and hash) and its
//     newest checkpoint, which survive the loss of every file at the site.
// A witness that cannot be read is left out and logged: an unreachable registry must
// not stop the agent from collecting.
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::agent {

std::vector<HeadWitness> head_witnesses(const Config& config);

}  // namespace mrv::agent
