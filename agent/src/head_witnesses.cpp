#include "head_witnesses.hpp"

#include <chrono>

#include "mrv/agent/state_file.hpp"
#include "mrv/core/log.hpp"
#include "mrv/uploader/uploader.hpp"

namespace mrv::agent {

// Bounds a start's wait for the registry; a slower one is treated as unreachable.
constexpr std::chrono::milliseconds kRegistryTimeout{5000};

std::vector<HeadWitness> head_witnesses(const Config& config) {
  std::vector<HeadWitness> out;
  if (auto seq = state_file_last_seq(config.journal.path)) out.push_back({"state file", *seq, "", {}});
  if (config.upload.url.empty()) return out;
  auto held = uploader::read_registry_head(config, kRegistryTimeout);
  if (!held) {
    log::warning("cannot read the registry's head, so a rollback of the journal that also lost its head "
                 "anchor and state file would only show when the registry refuses the upload: " +
                 held.error().to_string());
    return out;
  }
  // A checkpoint never covers more than the records held; the newer of the two anyway.
  HeadWitness registry{"registry", held->held_through, held->held_hash_hex, {}};
  if (held->checkpoint_tree_size > held->held_through) registry = {"registry", held->checkpoint_tree_size, "", {}};
  // The records the registry holds: a journal that lost them takes them back.
  registry.records = [config](uint64_t from_seq, size_t max) {
    return uploader::read_registry_records(config, from_seq, max, kRegistryTimeout);
  };
  if (registry.seq > 0) out.push_back(std::move(registry));
  return out;
}

}  // namespace mrv::agent
