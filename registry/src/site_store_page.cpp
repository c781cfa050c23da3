// The verifiers' page of a site (SiteStore::page): read from a snapshot of the site's
// journal of its own, so a long coverage scan holds no lock that uploads wait for.
#include <algorithm>

#include "mrv/core/clock.hpp"
#include "mrv/core/cosignature.hpp"
#include "mrv/registry/cosigner.hpp"
#include "mrv/registry/site_store.hpp"
#include "store_answers.hpp"
#include "unproven_store.hpp"

namespace mrv::registry {

namespace {
constexpr int64_t kDayMs = 86'400'000;
}

Answer<SitePage> SiteStore::page(int days, int64_t until_ms) {
  SitePage p;
  p.site_id = site_id_;
  p.now_ms = utc_now_ms();
  p.days = std::clamp(days, 1, kMaxPageDays);
  p.to_ms = (std::max<int64_t>(0, until_ms) / kDayMs + 1) * kDayMs;
  p.from_ms = std::max<int64_t>(0, p.to_ms - int64_t{p.days} * kDayMs);
  auto journal = Journal::open_read_only(path_);
  if (!journal) return storage_failure(journal.error());
  std::vector<Journal::KeyInfo> infos;
  auto read = journal->read_snapshot([&]() -> Result<void> {
    auto stats = journal->stats();
    if (!stats) return tl::unexpected(stats.error());
    p.stats = *stats;
    auto keys = journal->public_keys();
    if (!keys) return tl::unexpected(keys.error());
    infos = std::move(*keys);
    auto latest = journal->latest_checkpoint();
    if (!latest) return tl::unexpected(latest.error());
    p.latest = std::move(*latest);
    auto cosigned = journal->newest_cosigned_checkpoint();
    if (!cosigned) return tl::unexpected(cosigned.error());
    p.cosigned = std::move(*cosigned);
    auto coverage = journal->coverage_by_day(p.from_ms, p.to_ms);
    if (!coverage) return tl::unexpected(coverage.error());
    p.coverage = std::move(*coverage);
    return {};
  });
  if (!read) return storage_failure(read.error());

  Cosigner* cosigner = options_.cosigner;
  if (cosigner) {
    p.cosigner_name = cosigner->name();
    p.cosigner_key_id = cosigner->public_key().key_id_hex();
  }
  if (p.cosigned)
    for (const std::string& line : p.cosigned->cosignatures)
      if (auto c = parse_cosignature(line))
        p.cosignatures.push_back({c->name, to_hex(c->key_id), c->time_s,
                                  cosigner && cosigner->is_own(line, p.cosigned->checkpoint.note)});
  auto activated = tpm_activations();
  {
    std::lock_guard lock(mutex_);
    auto waiting = unproven_->count();
    if (!waiting) return storage_failure(waiting.error());
    p.unproven_records = *waiting;
    for (const Journal::KeyInfo& k : infos) {
      SitePage::Key& key = p.keys.emplace_back();
      key.key_id = k.key_id_hex;
      key.algorithm = k.algorithm;
      key.registered_ms = k.first_used_ms;
      if (auto it = activated.find(k.key_id_hex); it != activated.end()) key.tpm_activated_ms = it->second.activated_ms;
      auto held = std::find_if(keys_.begin(), keys_.end(), [&](const PublicKey& pk) { return pk.key_id_hex() == k.key_id_hex; });
      key.signed_latest = p.latest && held != keys_.end() && verify_checkpoint(p.latest->checkpoint, *held);
      key.revoked_from_seq = revoked_from(k.key_id_hex).value_or(0);
    }
  }
  p.reports = report_list();
  return p;
}

Answer<SiteIndexEntry> SiteStore::index_entry() {
  SiteIndexEntry e;
  e.id = site_id_;
  std::lock_guard lock(mutex_);
  auto stats = journal_.stats();
  if (!stats) return storage_failure(stats.error());
  e.records = stats->record_count;
  auto latest = journal_.latest_checkpoint();
  if (!latest) return storage_failure(latest.error());
  if (*latest) e.latest_size = (*latest)->checkpoint.tree_size, e.latest_ms = (*latest)->checkpoint.time_ms;
  auto cosigned = journal_.newest_cosigned_checkpoint();
  if (!cosigned) return storage_failure(cosigned.error());
  if (*cosigned) e.cosigned_size = (*cosigned)->checkpoint.tree_size;
  return e;
}

}  // namespace mrv::registry
