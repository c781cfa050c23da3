#pragma once
// The registry's API (docs/registry-api.md) apart from its transport: who sent a request,
// whether it may be made at all (decided on its headers alone, before any body is read),
// and its answer. admit() runs on the connection's thread; execute() on a worker, and
// several at once (the site stores lock what they share).
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http.hpp>

#include "mrv/core/crypto.hpp"
#include "mrv/registry/registry_config.hpp"
#include "mrv/registry/site_store.hpp"
#include "principals.hpp"

namespace mrv::registry {

namespace http = boost::beast::http;
using Response = http::response<http::string_body>;
using RequestHeader = http::request_header<>;

class VerifyPool;

enum class Endpoint {
  put_key, put_config, post_records, post_checkpoint, post_report, post_tpm_statement, post_tpm_activation,
  summary, keys, records, checkpoints, reports, report, bundle, page, sites,
  admin_action, roster, audit, audit_head,  // docs/registry-api.md §8
};

// The verdict on a request's headers.
struct Admission {
  std::optional<Response> refusal;  // answer this and read no body
  bool authenticated = false;       // a known credential (its connection is then kept over others)
  size_t body_limit = 0;            // the most body bytes the request may send
  Endpoint endpoint = Endpoint::summary;
  SiteStore* store = nullptr;       // none for the list of sites
  std::vector<std::string> path;              // percent-decoded segments
  std::map<std::string, std::string> query;   // percent-decoded
  std::string principal_site;                 // for the list of sites: a site credential's site ("": a reader)
  std::string actor;                          // for an admin action: the admin's name
};

// An answer; for a bundle also the file to stream (and remove).
struct Reply {
  Response response;
  std::optional<std::filesystem::path> file;
};

class Api {
 public:
  // Reads the credentials and the bundle key, replays the admins' audit log over the
  // config's sites and readers, and opens every site's store. A store that cannot be
  // opened is logged (site, file) and holds only that site back: its requests are
  // answered 503 until the registry is restarted with the store repaired.
  [[nodiscard]] static Result<std::unique_ptr<Api>> create(const RegistryConfig& config, VerifyPool& pool);
  ~Api();

  Admission admit(const RequestHeader& header, const std::optional<PeerCertificate>& cert) const;
  Reply execute(const Admission& admission, const RequestHeader& header, const std::string& body);

  size_t site_count() const;

  // The JSON error body of docs/registry-api.md §2.
  static Response error_response(int status, std::string error, std::string check, std::string message);

 private:
  struct Impl;
  explicit Api(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv::registry
