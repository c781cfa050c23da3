// The registry's request handling (docs/registry-api.md) on bytes as a client sends
// them: Beast's parser with the registry's limits, the admission on headers, the body
// rules, then the API (credentials, paths, queries, JSON, gzip, record lines,
// signatures, TPM key statements and activations, the SQLite stores) in a registry of two
// sites under a scratch folder:
//   fuzz-site  bearer "fuzz-site-token", the seed key pinned
//   cp-site    bearer "cp-site-token", the seed key pinned, checkpoint_only
//   reader     bearer "fuzz-reader-token"
// The connection's deadlines and budgets need a socket: registry_hostile_test.py.
#include <filesystem>
#include <memory>

#include "fuzz_support.hpp"
#include "mrv/core/crypto.hpp"
#include "request_rules.hpp"
#include "verify_pool.hpp"

namespace registry = mrv::registry;
namespace http = boost::beast::http;

namespace {

std::filesystem::path private_copy(const std::string& name) {
  auto to = mrv::fuzz::scratch_dir() / name;
  std::filesystem::copy_file(MRV_FUZZ_DIR "/keys/" + name, to, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(to, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return to;
}

registry::Credential bearer(const std::string& token) {
  registry::Credential c;
  c.token_sha256 = mrv::to_hex(mrv::sha256(token));
  return c;
}

struct Registry {
  registry::RegistryConfig config;
  registry::VerifyPool pool{1};
  std::unique_ptr<registry::Api> api;

  Registry() {
    config.data_dir = mrv::fuzz::scratch_dir() / "registry";
    config.cert_file = private_copy("tls.pem");
    config.key_file = private_copy("tls.key");
    config.bundle_key_file = private_copy("seed-ed25519.key");
    config.tpm_ca_file = MRV_FUZZ_DIR "/keys/tls.pem";  // a CA no statement chains to: the refusals run
    config.max_body_bytes = 1 << 20;
    config.max_batch_records = 1000;
    registry::SiteEntry site{"fuzz-site", bearer("fuzz-site-token"), {MRV_FUZZ_DIR "/keys/seed-ed25519.pub"}, false};
    config.sites.push_back(site);
    site.id = "cp-site";
    site.credential = bearer("cp-site-token");
    site.checkpoint_only = true;
    config.sites.push_back(site);
    config.readers.push_back({"reader", bearer("fuzz-reader-token")});
    auto created = registry::Api::create(config, pool);
    if (!created) {
      std::fprintf(stderr, "fuzz: %s\n", created.error().to_string().c_str());
      std::abort();
    }
    api = std::move(*created);
  }
};

// Feeds `input` to the parser until it stops on a complete header (or message).
size_t put(registry::RequestParser& parser, std::string_view input, boost::system::error_code& ec) {
  size_t used = 0;
  while (!ec && used < input.size() && !parser.is_done()) {
    bool header_before = parser.is_header_done();
    used += parser.put(boost::asio::buffer(input.data() + used, input.size() - used), ec);
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (!header_before && parser.is_header_done()) break;
  }
  return used;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Registry r;
  std::string_view input = mrv::fuzz::as_text(data, size);
  registry::RequestParser parser;
  registry::limit_headers(parser, r.config);
  boost::system::error_code ec;
  size_t used = put(parser, input, ec);
  if (ec || !parser.is_header_done()) {
    if (ec) MRV_FUZZ_CHECK(registry::malformed_answer(ec, r.config).result_int() >= 400);
    return 0;
  }
  registry::Admission admission = registry::admit_headers(*r.api, parser, std::nullopt);
  if (admission.refusal) {
    MRV_FUZZ_CHECK(admission.refusal->result_int() >= 400);
    return 0;
  }
  if (registry::has_body(parser)) {
    parser.body_limit(admission.body_limit);
    put(parser, input.substr(used), ec);
    if (!ec && !parser.is_done()) parser.put_eof(ec);
    if (ec) return 0;
    MRV_FUZZ_CHECK(parser.get().body().size() <= admission.body_limit);
  }
  registry::Reply reply = r.api->execute(admission, parser.get().base(), parser.get().body());
  MRV_FUZZ_CHECK(reply.response.result_int() >= 200 && reply.response.result_int() < 600);
  if (reply.file) std::filesystem::remove(*reply.file);
  return 0;
}
