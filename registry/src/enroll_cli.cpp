#include "enroll_cli.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mrv/core/crypto.hpp"
#include "mrv/core/secret_file.hpp"
#include "mrv/uploader/https_client.hpp"

namespace mrv::registry {

using json = nlohmann::json;

namespace {

struct EnrollArgs {
  std::string url, ca_file, token_file, client_cert, client_key;
  std::string site, reader;
  std::string token_out, token_sha256, cert_cn, cert_sha256;
  std::vector<std::string> key_files;
  bool checkpoint_only = false;
  std::string key_id, reason;
  uint64_t from_seq = 0, audit_from = 1;
};

// A fresh token: 32 random bytes as hex, written to `path` (which must not exist) for the
// site or reader alone to read. The registry only ever sees its SHA-256.
Result<std::string> new_token_file(const std::string& path) {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return fail(ErrorCode::io, path, "no random bytes for a token");
  std::string token = to_hex(bytes, sizeof bytes);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fail(ErrorCode::io, path, std::string("cannot create (it must not exist): ") + std::strerror(errno));
  std::string line = token + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return fail(ErrorCode::io, path, "cannot write the token");
  return to_hex(sha256(token));
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::io, path, "cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Builds the verb's action from the arguments, or says what is missing.
Result<json> action_of(const std::string& verb, EnrollArgs& a) {
  json j = {{"action", verb}};
  if (!a.site.empty()) j["site"] = a.site;
  if (!a.reader.empty()) j["reader"] = a.reader;
  if (verb == "add_site" || verb == "add_reader" || verb == "set_credential") {
    if (!a.token_out.empty()) {
      auto hash = new_token_file(a.token_out);
      if (!hash) return tl::unexpected(hash.error());
      j["token_sha256"] = *hash;
    }
    if (!a.token_sha256.empty()) j["token_sha256"] = a.token_sha256;
    if (!a.cert_cn.empty()) j["client_cert_cn"] = a.cert_cn;
    if (!a.cert_sha256.empty()) j["client_cert_sha256"] = a.cert_sha256;
  }
  if (verb == "add_site") {
    j["checkpoint_only"] = a.checkpoint_only;
    j["keys"] = json::array();
    for (const auto& f : a.key_files) {
      auto pem = read_text(f);
      if (!pem) return tl::unexpected(pem.error());
      j["keys"].push_back(*pem);
    }
  }
  if (verb == "pin_key" || verb == "rotate_key") {
    auto pem = read_text(a.key_files.at(0));
    if (!pem) return tl::unexpected(pem.error());
    j["public_key_pem"] = *pem;
  }
  if (verb == "revoke_key" || verb == "rotate_key") {
    j["key_id"] = a.key_id;
    j["from_seq"] = a.from_seq;
    if (!a.reason.empty()) j["reason"] = a.reason;
  }
  return j;
}

int send(const EnrollArgs& a, std::string_view method, const std::string& target, const std::string& body) {
  uploader::HttpsClientOptions options;
  options.url = a.url;
  options.ca_file = a.ca_file;
  options.client_cert_file = a.client_cert;
  options.client_key_file = a.client_key;
  options.max_response_bytes = 64 << 20;
  if (!a.token_file.empty()) {
    auto token = read_secret_file(a.token_file, S_IRWXO);
    if (!token) {
      std::cerr << "mrv-registry enroll: " << token.error().to_string() << "\n";
      return 2;
    }
    options.bearer_token = *token;
  }
  auto client = uploader::HttpsClient::create(options);
  if (!client) {
    std::cerr << "mrv-registry enroll: " << client.error().to_string() << "\n";
    return 2;
  }
  auto response = client->send({method, target, body.empty() ? "" : "application/json", "", body});
  if (!response) {
    std::cerr << "mrv-registry enroll: " << response.error().to_string() << "\n";
    return 1;
  }
  if (response->status != 200) {
    std::cerr << "mrv-registry enroll: refused (" << response->status << "): " << response->body << "\n";
    return 1;
  }
  std::cout << response->body;
  if (!response->body.empty() && response->body.back() != '\n') std::cout << "\n";
  return 0;
}

}  // namespace

std::function<int()> add_enroll_command(CLI::App& app) {
  auto args = std::make_shared<EnrollArgs>();
  auto verb = std::make_shared<std::string>();
  CLI::App* enroll = app.add_subcommand("enroll", "change who may use a running registry (docs/registry-api.md §8)");
  enroll->require_subcommand(1);
  enroll->add_option("--url", args->url, "the registry, https://host:port")->required();
  enroll->add_option("--token-file", args->token_file, "the admin's bearer token (a file only you can read)");
  enroll->add_option("--ca-file", args->ca_file, "CA certificates (PEM) to check the registry's certificate by");
  enroll->add_option("--client-cert", args->client_cert, "the admin's client certificate (mutual TLS)");
  enroll->add_option("--client-key", args->client_key, "its private key");

  auto verb_command = [&](const char* name, const char* action, const char* help) {
    CLI::App* c = enroll->add_subcommand(name, help);
    c->callback([verb, action] { *verb = action; });
    return c;
  };
  auto credential = [&](CLI::App* c) {
    auto* g = c->add_option_group("credential", "exactly one");
    g->add_option("--token-out", args->token_out, "make a new token, write it to this file (which must not exist), send its hash");
    g->add_option("--token-sha256", args->token_sha256, "the SHA-256 (hex) of a token the site or reader holds");
    g->add_option("--client-cert-cn", args->cert_cn, "a client certificate's subject CN");
    g->add_option("--client-cert-sha256", args->cert_sha256, "the SHA-256 (hex) of a client certificate's DER");
    g->require_option(1);
  };
  auto subject = [&](CLI::App* c) {
    auto* g = c->add_option_group("subject", "exactly one");
    g->add_option("--site", args->site, "site id");
    g->add_option("--reader", args->reader, "reader name");
    g->require_option(1);
  };

  CLI::App* c = verb_command("add-site", "add_site", "enroll a site");
  c->add_option("site", args->site, "its id")->required();
  credential(c);
  c->add_option("--key", args->key_files, "a public key file (PEM) to pin; repeat for more");
  c->add_flag("--checkpoint-only", args->checkpoint_only, "accept records without a signature of their own");
  c = verb_command("add-reader", "add_reader", "enroll a reader (a verifier: reads every site)");
  c->add_option("reader", args->reader, "its name")->required();
  credential(c);
  c = verb_command("set-credential", "set_credential", "replace an enrolled site's or reader's credential");
  subject(c);
  credential(c);
  for (auto [name, action, help] : {std::tuple{"suspend", "suspend", "refuse a site's or reader's credential until resumed"},
                                    std::tuple{"resume", "resume", "accept it again"},
                                    std::tuple{"remove", "remove", "void it for good (a site's records stay readable)"}})
    subject(verb_command(name, action, help));
  c = verb_command("pin-key", "pin_key", "allow a site to register this key");
  c->add_option("--site", args->site, "site id")->required();
  c->add_option("public_key", args->key_files, "the key (PEM file)")->required()->expected(1);
  c = verb_command("revoke-key", "revoke_key", "no longer accept a site's key from a seq on");
  c->add_option("--site", args->site, "site id")->required();
  c->add_option("key_id", args->key_id, "the key's id (64 hex digits, as GET .../keys lists it)")->required();
  c->add_option("--from-seq", args->from_seq, "the first seq the key may not sign")->required();
  c->add_option("--reason", args->reason, "why, for the audit log");
  c = verb_command("rotate-key", "rotate_key", "pin a new key and revoke the old one from a seq on, as one action");
  c->add_option("--site", args->site, "site id")->required();
  c->add_option("key_id", args->key_id, "the old key's id")->required();
  c->add_option("public_key", args->key_files, "the new key (PEM file)")->required()->expected(1);
  c->add_option("--from-seq", args->from_seq, "the first seq the old key may not sign")->required();
  c->add_option("--reason", args->reason, "why, for the audit log");
  verb_command("roster", "", "list the sites and readers and their state");
  c = verb_command("audit", "", "print the audit log (NDJSON)");
  c->add_option("--from-seq", args->audit_from, "the first entry");

  return [args, verb, enroll]() -> int {
    if (enroll->got_subcommand("roster")) return send(*args, "GET", "/v1/admin/roster", "");
    if (enroll->got_subcommand("audit")) return send(*args, "GET", "/v1/audit?from_seq=" + std::to_string(args->audit_from), "");
    auto action = action_of(*verb, *args);
    if (!action) {
      std::cerr << "mrv-registry enroll: " << action.error().to_string() << "\n";
      return 2;
    }
    int rc = send(*args, "POST", "/v1/admin/actions", action->dump());
    if (rc != 0 && !args->token_out.empty()) ::unlink(args->token_out.c_str());  // a token for nothing
    if (rc == 0 && !args->token_out.empty())
      std::cerr << "the new token is in " << args->token_out << ": give it to the " << (args->site.empty() ? "reader" : "site")
                << " (the registry keeps only its hash)\n";
    return rc;
  };
}

}  // namespace mrv::registry
