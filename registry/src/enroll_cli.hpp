#pragma once
// `mrv-registry enroll ...`: an admin's client for a running registry's enrollment API
// (docs/registry-api.md §8). Each verb sends one action and prints the audit entry the
// registry kept; exit 0 when it was done, 1 when refused or unreachable, 2 on usage.
#include <CLI/CLI.hpp>

namespace mrv::registry {

// Adds `enroll` and its verbs to `app`; the returned function runs the one parsed.
std::function<int()> add_enroll_command(CLI::App& app);

}  // namespace mrv::registry
