#include "principals.hpp"

namespace mrv::registry {

void Principals::add(const Credential& c, const Principal& p) {
  if (!c.token_sha256.empty()) by_token_.emplace(c.token_sha256, p);
  if (!c.client_cert_cn.empty()) by_cn_.emplace(c.client_cert_cn, p);
  if (!c.client_cert_sha256.empty()) by_cert_.emplace(c.client_cert_sha256, p);
}

void Principals::rebuild(const Roster& roster, const std::vector<ReaderEntry>& admins) {
  by_token_.clear();
  by_cn_.clear();
  by_cert_.clear();
  for (const auto& [id, s] : roster.sites)
    if (!s.removed) add(s.credential, {Principal::Kind::site, id, s.suspended});
  for (const auto& [name, r] : roster.readers) add(r.credential, {Principal::Kind::reader, name, r.suspended});
  for (const auto& a : admins) add(a.credential, {Principal::Kind::admin, a.name, false});
}

Principal Principals::find(const std::optional<std::string>& token_sha256, const std::optional<PeerCertificate>& cert) const {
  auto in = [](const auto& index, const std::string& key) {
    auto it = index.find(key);
    return it == index.end() ? Principal{} : it->second;
  };
  if (token_sha256) return in(by_token_, *token_sha256);
  if (!cert) return {};
  Principal p = in(by_cn_, cert->cn);
  return p.kind != Principal::Kind::none ? p : in(by_cert_, cert->sha256_hex);
}

std::optional<Principal> Principals::holder(const Credential& c) const {
  for (auto [index, key] : {std::pair{&by_token_, &c.token_sha256}, std::pair{&by_cn_, &c.client_cert_cn},
                            std::pair{&by_cert_, &c.client_cert_sha256}})
    if (!key->empty())
      if (auto it = index->find(*key); it != index->end()) return it->second;
  return std::nullopt;
}

}  // namespace mrv::registry
