// What readers fetch besides the store's own JSON answers: records by seq or time,
// checkpoints, the verifiers' pages and bundles.
#include <unistd.h>

#include "api_impl.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/evidence/bundle.hpp"
#include "mrv/registry/site_page.hpp"

namespace mrv::registry {

Reply Api::Impl::bundle(SiteStore& store, const Admission& a) {
  if (!bundle_signer)
    return {error_response(404, "not_found", "format", "this registry makes no bundles (no [bundle] key_file)"), {}};
  auto get = [&](const char* key) { auto it = a.query.find(key); return it == a.query.end() ? std::string() : it->second; };
  auto from = parse_time_ms(get("from"));
  auto to = parse_time_ms(get("to"));
  if (!from || !to) return {error_response(400, "bad_request", "format", "from and to must be UTC ms or RFC 3339"), {}};
  if (*from > *to) return {error_response(400, "bad_request", "format", "from is after to"), {}};
  auto journal = Journal::open_read_only(store.journal_path());  // its own snapshot: no site lock
  if (!journal) return {error_response(500, "storage", "storage", journal.error().to_string()), {}};
  auto latest = journal->latest_checkpoint();
  if (!latest) return {error_response(500, "storage", "storage", latest.error().to_string()), {}};
  if (!*latest)
    return {error_response(404, "not_found", "checkpoint", "no checkpoint of the site yet: nothing to prove a bundle with"), {}};
  auto tmp = config.data_dir / "tmp" / ("bundle-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(++bundle_count) + ".tar.gz");
  std::error_code ec;
  std::filesystem::create_directories(tmp.parent_path(), ec);
  evidence::BundleRequest request;
  request.from_ms = *from;
  request.to_ms = *to;
  request.out = tmp;
  request.signer = &*bundle_signer;
  request.registry_signer = true;
  request.max_seq = (*latest)->checkpoint.tree_size;
  for (auto& [key_id, activation] : store.tpm_activations()) {
    request.tpm_statements[key_id] = std::move(activation.statement);
    request.tpm_activations[key_id] = activation.activated_ms;
  }
  std::lock_guard lock(bundle_mutex);
  auto written = evidence::write_bundle(*journal, store.id(), request);
  if (!written) {
    std::filesystem::remove(tmp, ec);
    const Error& e = written.error();
    if (e.code == ErrorCode::invalid_argument) return {error_response(400, "bad_request", "format", e.to_string()), {}};
    if (e.code == ErrorCode::not_found)  // a config the records name was never uploaded
      return {error_response(409, "incomplete", "format", e.to_string() + " (the site never uploaded it: PUT …/configs/{sha256})"), {}};
    return {error_response(500, "storage", "storage", e.to_string()), {}};
  }
  return {json_response(200, "", "application/gzip"), tmp};
}

Reply Api::Impl::records(SiteStore& store, const Admission& a) {
  if (a.query.count("from_ms") || a.query.count("to_ms")) {
    auto get = [&](const char* key) { auto it = a.query.find(key); return it == a.query.end() ? std::string() : it->second; };
    auto from = parse_time_ms(get("from_ms"));
    auto to = parse_time_ms(get("to_ms"));
    if (!from || !to) return {error_response(400, "bad_request", "format", "from_ms and to_ms must be UTC ms or RFC 3339"), {}};
    if (*from > *to) return {error_response(400, "bad_request", "format", "from_ms is after to_ms"), {}};
    return {answer(store.records_by_time(*from, *to), "application/x-ndjson"), {}};
  }
  auto from = query_number(a, "from_seq"), to = query_number(a, "to_seq");
  if (!from || !to) return {error_response(400, "bad_request", "format", "give from_seq and to_seq, or from_ms and to_ms"), {}};
  if (*from > *to) return {error_response(400, "bad_request", "format", "from_seq is after to_seq"), {}};
  return {answer(store.records(*from, *to), "application/x-ndjson"), {}};
}

Reply Api::Impl::site_index(const std::string& principal_site) {
  std::vector<SiteIndexEntry> entries;
  std::vector<std::pair<size_t, SiteStore*>> listed;  // (entry, store): filled in after the lock
  {
    std::shared_lock lock(roster_mutex);
    for (auto& [id, slot] : sites) {
      if (!principal_site.empty() && id != principal_site) continue;
      if (slot.store) listed.emplace_back(entries.size(), slot.store.get());
      entries.push_back({id, slot.unavailable});
    }
  }
  // Slots are never erased, so the stores outlive the lock; catching a site up here would
  // otherwise hold every admin action behind the replay of all the sites listed.
  for (auto [i, store] : listed) {
    store->follow_noted();
    auto e = store->index_entry();
    if (!e) return {refusal(e.error()), {}};
    entries[i] = std::move(*e);
  }
  return {html_response(render_site_index(entries, utc_now_ms())), {}};
}

Response Api::Impl::html_response(std::string body) {
  Response res = json_response(200, std::move(body), "text/html; charset=utf-8");
  res.set("Content-Security-Policy",
          "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'");
  res.set("X-Content-Type-Options", "nosniff");
  res.set(http::field::cache_control, "no-store");
  res.set("Referrer-Policy", "no-referrer");
  return res;
}

Reply Api::Impl::page(SiteStore& store, const Admission& a) {
  int days = 31;
  if (a.query.count("days")) {
    auto n = query_number(a, "days");
    if (!n || *n < 1 || *n > SiteStore::kMaxPageDays)
      return {error_response(400, "bad_request", "format", "days must be a whole number from 1 to 366"), {}};
    days = static_cast<int>(*n);
  }
  int64_t until = utc_now_ms();
  if (auto it = a.query.find("until"); it != a.query.end() && !it->second.empty()) {
    auto t = parse_time_ms(it->second);
    if (!t || *t < 0) return {error_response(400, "bad_request", "format", "until must be a UTC day, RFC 3339 or ms"), {}};
    until = *t;
  }
  auto facts = store.page(days, until);
  if (!facts) return {refusal(facts.error()), {}};
  facts->bundles = bundle_signer.has_value();
  return {html_response(render_site_page(*facts)), {}};
}

Reply Api::Impl::checkpoints(SiteStore& store, const Admission& a) {
  bool given_min = a.query.count("min_size") > 0, given_max = a.query.count("max_size") > 0;
  auto min = query_number(a, "min_size"), max = query_number(a, "max_size");
  if ((given_min && !min) || (given_max && !max))
    return {error_response(400, "bad_request", "format", "min_size and max_size must be whole numbers"), {}};
  uint64_t lo = min.value_or(0), hi = max.value_or(UINT64_MAX >> 1);
  if (lo > hi) return {error_response(400, "bad_request", "format", "min_size is above max_size"), {}};
  return {answer(store.checkpoints(lo, hi)), {}};
}

}  // namespace mrv::registry
