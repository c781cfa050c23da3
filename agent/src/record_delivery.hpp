#pragma once
// How `mrv-agent record` gets an entry into the journal, which has one writer: through
// the running agent's control socket (entry_socket.hpp), or, when no agent listens there
// (no socket file, or nobody accepting), by opening the journal itself: it then takes the
// journal's one-writer lock as the agent does, so it never writes beside a running agent.
#include <string>

#include "entry_request.hpp"
#include "mrv/core/config.hpp"

namespace mrv::agent {

struct Delivered {
  SiteRecordCommit commit;
  bool through_agent = true;  // false: the CLI wrote the journal itself
};

// Sends `record` (checked already, login unset: the agent takes it from the kernel) to
// the agent; an answer lost on the way is asked for once more with the same entry id,
// which the journal stores once. With no agent, commits it with `login` as source.
// Errors name what failed: the agent's refusal, an unreachable socket while the agent
// holds the journal, the key or journal the CLI cannot open.
[[nodiscard]] Result<Delivered> deliver_entry(const SiteRecord& record, const Config& config, const std::string& login);

}  // namespace mrv::agent
