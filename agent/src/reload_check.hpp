#pragma once
// What a reload (SIGHUP) may change in place: sources, points, subscriptions, registers,
// the upload and the monitoring sections. The site, the journal and the signing key are
// the identity and storage of the record chain: changing them needs a restart, so a
// reload refuses them and keeps running as it was.
#include <optional>
#include <string>

#include "mrv/core/config.hpp"

namespace mrv::agent {

// nullopt when `fresh` can replace `running` without a restart; else what differs.
std::optional<std::string> needs_restart(const Config& running, const Config& fresh);

}  // namespace mrv::agent
