#include "head_witnesses.hpp"

#include <chrono>

#include "mrv/agent/state_file.hpp"
#include "mrv/core/chain_verifier.hpp"
#include "mrv/core/checkpoint.hpp"
#include "mrv/core/log.hpp"
#include "mrv/uploader/uploader.hpp"

namespace mrv::agent {
namespace {

// Bounds a start's wait for the registry; a slower one is treated as unreachable.
constexpr std::chrono::milliseconds kRegistryTimeout{5000};

// The keys whose records are this journal's: the signer's and every one that signed in it.
std::vector<PublicKey> journal_keys(const Config& config, const Signer& signer) {
  std::vector<PublicKey> keys;
  if (auto own = PublicKey::from_pem(signer.public_pem())) keys.push_back(std::move(*own));
  if (std::filesystem::exists(config.journal.path))
    if (auto journal = Journal::open_read_only(config.journal.path))
      if (auto infos = journal->public_keys())
        for (const auto& k : *infos)
          if (auto key = PublicKey::from_pem(k.pem)) keys.push_back(std::move(*key));
  return keys;
}

// The registry as a witness, when what it holds is this journal's; why not, otherwise.
Result<std::optional<HeadWitness>> registry_witness(const Config& config, const Signer& signer) {
  auto held = uploader::read_registry_head(config, kRegistryTimeout);
  if (!held) return tl::unexpected(held.error());
  if (held->held_through == 0) return std::nullopt;
  std::vector<PublicKey> keys = journal_keys(config, signer);
  if (!held->newest) return fail(ErrorCode::not_found, config.upload.url, "it does not send its newest record");
  const StoredRecord& newest = *held->newest;
  ChainVerifier verifier(keys);
  if (auto ok = verifier.check(newest.seq, newest.canonical, to_hex(newest.hash), newest.signature); !ok)
    return fail(ErrorCode::invalid_argument, config.upload.url,
                "its newest record, seq " + std::to_string(newest.seq) + ", is not this journal's: " + ok.error().message);
  HeadWitness registry{"registry", newest.seq, to_hex(newest.hash)};
  // A checkpoint never covers more than the records held; the newer of the two anyway.
  if (auto c = parse_checkpoint(held->checkpoint_note); c && c->tree_size > registry.seq)
    for (const PublicKey& k : keys)
      if (verify_checkpoint(*c, k)) registry = {"registry", c->tree_size, ""};
  // The records themselves: a journal that lost them takes them back, checking each.
  registry.records = [config](uint64_t from_seq, size_t max) {
    return uploader::read_registry_records(config, from_seq, max, kRegistryTimeout);
  };
  return registry;
}

}  // namespace

std::vector<HeadWitness> head_witnesses(const Config& config, const Signer& signer) {
  std::vector<HeadWitness> out;
  if (auto seq = state_file_last_seq(config.journal.path)) out.push_back({"state file", *seq, ""});
  if (config.upload.url.empty()) return out;
  auto registry = registry_witness(config, signer);
  if (!registry)
    log::warning("the registry is no witness of the journal's head at this start, so a rollback that also lost "
                 "the head anchor and state file shows only when the registry refuses the upload: " +
                 registry.error().to_string());
  else if (*registry)
    out.push_back(std::move(**registry));
  return out;
}

}  // namespace mrv::agent
