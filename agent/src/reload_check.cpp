#include "reload_check.hpp"

namespace mrv::agent {

std::optional<std::string> needs_restart(const Config& a, const Config& b) {
  if (a.site_id != b.site_id) return "[site] id";
  const JournalConfig &ja = a.journal, &jb = b.journal;
  if (ja.path != jb.path) return "[journal] path";
  if (ja.synchronous != jb.synchronous || ja.quota_bytes != jb.quota_bytes ||
      ja.on_chain_break != jb.on_chain_break || ja.quarantine_max_rows != jb.quarantine_max_rows ||
      ja.commit_interval_ms != jb.commit_interval_ms || ja.max_batch != jb.max_batch ||
      ja.queue_capacity != jb.queue_capacity)
    return "[journal] settings";
  const SigningConfig &sa = a.signing, &sb = b.signing;
  if (sa.key_file != sb.key_file || sa.checkpoint_only != sb.checkpoint_only ||
      sa.checkpoint_interval_ms != sb.checkpoint_interval_ms ||
      sa.checkpoint_every_records != sb.checkpoint_every_records)
    return "[signing]";
  return std::nullopt;
}

}  // namespace mrv::agent
