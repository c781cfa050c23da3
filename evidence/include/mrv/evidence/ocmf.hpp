#pragma once
// OCMF export (docs/ocmf.md): the begin and end register readings of each cumulative
// energy point over a period, as Open Charge Metering Format records
// (OCMF|{payload}|{signature}) signed with the agent's ECDSA P-256 key, so tools that
// check German calibration-law (Eichrecht) charging data can check them too.
#include <cstdint>
#include <filesystem>
#include <string>

#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::evidence {

// "2026-01-01T00:00:00,000+0000 S": OCMF's time with its synchronisation flag.
std::string ocmf_time(int64_t ms, bool synchronised);

// Writes one OCMF line per cumulative point in kWh or Wh with good readings in
// [from_ms, to_ms); returns how many. Needs the config's ECDSA P-256 signing key.
[[nodiscard]] Result<uint64_t> write_ocmf(Journal& journal, const Config& config, int64_t from_ms,
                                          int64_t to_ms, const std::filesystem::path& out);

}  // namespace mrv::evidence
