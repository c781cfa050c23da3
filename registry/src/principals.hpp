#pragma once
// Who sent a request: every credential the registry knows (the roster's sites and
// readers, the config's admins), indexed so a request costs one lookup however many
// sites there are. Rebuilt whole after each admin action.
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mrv/registry/enrollment.hpp"

namespace mrv::registry {

// A client certificate that verified: its subject CN and the SHA-256 of its DER.
struct PeerCertificate {
  std::string cn, sha256_hex;
};

struct Principal {
  enum class Kind { none, site, reader, admin } kind = Kind::none;
  std::string name;
  bool suspended = false;
};

class Principals {
 public:
  // Sites first, then readers, then admins: a credential two of them share (only a
  // config can say so) names the first.
  void rebuild(const Roster& roster, const std::vector<ReaderEntry>& admins);
  // A token (its SHA-256) is looked up alone; otherwise the certificate's CN, then its hash.
  Principal find(const std::optional<std::string>& token_sha256, const std::optional<PeerCertificate>& cert) const;
  // Who holds any part of this credential already, if anyone.
  std::optional<Principal> holder(const Credential& c) const;

 private:
  void add(const Credential& c, const Principal& p);
  std::unordered_map<std::string, Principal> by_token_, by_cn_, by_cert_;
};

}  // namespace mrv::registry
