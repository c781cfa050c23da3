// An admin's action (POST /v1/admin/actions, docs/registry-api.md §8.1) on bytes as a
// client sends them: parsed, checked against a roster of a config's site, an enrolled
// site with a pinned and a revoked key, and a reader, then applied to a copy. What the
// audit log keeps of an action parses back to itself.
#include "fuzz_support.hpp"
#include "mrv/registry/enrollment.hpp"

namespace registry = mrv::registry;

namespace {

registry::Roster make_roster() {
  registry::Roster r;
  r.sites["fuzz-site"].from_config = true;
  r.sites["fuzz-site"].credential.token_sha256 = std::string(64, 'a');
  auto& pv = r.sites["pv-1"];
  pv.credential.client_cert_cn = "pv-1";
  pv.pinned_pems.push_back(mrv::fuzz::seed_public_key().pem());
  pv.revoked_from[std::string(64, 'b')] = 10;
  r.readers["r"].credential.token_sha256 = std::string(64, 'c');
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const registry::Roster roster = make_roster();
  auto action = registry::parse_admin_action(mrv::fuzz::as_text(data, size));
  if (!action) {
    MRV_FUZZ_CHECK(action.error().status == 400 && !action.error().message.empty());
    return 0;
  }
  std::string kept = action->to_json().dump();
  auto again = registry::parse_admin_action(kept);
  MRV_FUZZ_CHECK(again && again->to_json().dump() == kept);
  auto allowed = registry::check_admin_action(roster, *action);
  if (!allowed) {
    MRV_FUZZ_CHECK(allowed.error().status == 404 || allowed.error().status == 409);
    return 0;
  }
  registry::Roster changed = roster;
  registry::apply_admin_action(changed, *action);
  if (action->verb == "add_site") MRV_FUZZ_CHECK(changed.sites.count(action->site) == 1);
  if (action->verb == "remove" && !action->site.empty()) MRV_FUZZ_CHECK(changed.sites.at(action->site).removed);
  return 0;
}
