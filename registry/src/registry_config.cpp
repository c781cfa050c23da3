#include "mrv/registry/registry_config.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include "mrv/core/cosignature.hpp"
#include "config_reader.hpp"  // core's private TOML reader, shared with the agent's config

namespace mrv::registry {
namespace {

bool is_hex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

Credential read_credential(ConfigReader& r, const std::filesystem::path& file, const toml::table& t,
                           const std::string& path) {
  Credential c;
  c.token_sha256 = r.string(t, path, "token_sha256", false);
  c.token_file = resolve(file, r.string(t, path, "token_file", false));
  if (!c.token_file.empty() && !c.token_sha256.empty())
    r.error(t.get("token_file"), path + ".token_file", "give token_file or token_sha256, not both");
  c.client_cert_cn = r.string(t, path, "client_cert_cn", false);
  c.client_cert_sha256 = r.string(t, path, "client_cert_sha256", false);
  for (auto [key, value] : {std::pair{"token_sha256", &c.token_sha256}, std::pair{"client_cert_sha256", &c.client_cert_sha256}})
    if (!value->empty() && !is_hex64(*value))
      r.error(t.get(key), path + "." + key, "must be 64 lower-case hex digits (a SHA-256)");
  if (c.token_sha256 == kEmptyTokenSha256)
    r.error(t.get("token_sha256"), path + ".token_sha256",
            "is the SHA-256 of an empty token, which a request without a token presents: hash the token itself");
  if (c.token_sha256.empty() && c.token_file.empty() && c.client_cert_cn.empty() && c.client_cert_sha256.empty())
    r.error(&t, path, "needs a credential: token_sha256, token_file, client_cert_cn or client_cert_sha256");
  return c;
}

}  // namespace

tl::expected<RegistryConfig, std::vector<Error>> load_registry_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return tl::unexpected(std::vector<Error>{Error{ErrorCode::io, file.string(), "cannot read config file"}});
  std::ostringstream text;
  text << in.rdbuf();
  toml::table root;
  if (auto shallow = check_toml_limits(text.str(), file.string()); !shallow)  // toml++ recurses per level, holds all
    return tl::unexpected(std::vector<Error>{shallow.error()});
  try {
    root = toml::parse(text.str(), file.string());
  } catch (const toml::parse_error& e) {
    return tl::unexpected(std::vector<Error>{Error{ErrorCode::config,
        file.string() + ":" + std::to_string(e.source().begin.line), std::string(e.description())}});
  }
  ConfigReader r(file.string());
  RegistryConfig c;
  c.file = file;
  r.only_keys(root, "", {"listen", "data_dir", "max_body_bytes", "max_batch_records", "verify_threads",
                         "request_threads", "max_connections", "max_header_bytes", "max_body_bytes_total",
                         "idle_timeout_ms", "header_timeout_ms", "request_timeout_ms", "tls", "bundle", "cosign", "tpm", "database",
                         "sites", "readers", "admins"});
  std::string listen = r.string(root, "", "listen", false, "127.0.0.1:8443");
  auto colon = listen.rfind(':');
  int64_t port = -1;
  if (colon != std::string::npos) {
    c.listen_host = listen.substr(0, colon);
    if (c.listen_host.size() > 2 && c.listen_host.front() == '[') c.listen_host = c.listen_host.substr(1, c.listen_host.size() - 2);
    try { port = std::stoll(listen.substr(colon + 1)); } catch (...) {}
  }
  if (port < 0 || port > 65535) r.error(root.get("listen"), "listen", "must be host:port");
  else c.listen_port = static_cast<uint16_t>(port);
  c.data_dir = resolve(file, r.string(root, "", "data_dir", true));
  c.max_body_bytes = static_cast<size_t>(r.integer(root, "", "max_body_bytes", 16 << 20, 1024, int64_t{1} << 30));
  c.max_batch_records = static_cast<size_t>(r.integer(root, "", "max_batch_records", 100'000, 1, 10'000'000));
  c.verify_threads = static_cast<int>(r.integer(root, "", "verify_threads", 0, 0, 256));
  c.request_threads = static_cast<int>(r.integer(root, "", "request_threads", 0, 0, 256));
  c.max_connections = static_cast<int>(r.integer(root, "", "max_connections", 256, 1, 100'000));
  c.max_header_bytes = static_cast<size_t>(r.integer(root, "", "max_header_bytes", 8192, 1024, 1 << 20));
  c.max_body_bytes_total = static_cast<size_t>(
      r.integer(root, "", "max_body_bytes_total", std::max<int64_t>(64 << 20, c.max_body_bytes),
                static_cast<int64_t>(c.max_body_bytes), int64_t{1} << 40));
  c.idle_timeout_ms = static_cast<int>(r.integer(root, "", "idle_timeout_ms", 30'000, 100, 3'600'000));
  c.header_timeout_ms = static_cast<int>(r.integer(root, "", "header_timeout_ms", 10'000, 100, 600'000));
  c.request_timeout_ms = static_cast<int>(r.integer(root, "", "request_timeout_ms", 120'000, 100, 3'600'000));
  if (c.request_timeout_ms < c.header_timeout_ms)
    r.error(root.get("request_timeout_ms"), "request_timeout_ms", "must be at least header_timeout_ms");
  if (const toml::table* tls = r.table(root, "", "tls", true)) {
    r.only_keys(*tls, "tls", {"cert_file", "key_file", "client_ca_file"});
    c.cert_file = resolve(file, r.string(*tls, "tls", "cert_file", true));
    c.key_file = resolve(file, r.string(*tls, "tls", "key_file", true));
    c.client_ca_file = resolve(file, r.string(*tls, "tls", "client_ca_file", false));
  }
  if (const toml::table* b = r.table(root, "", "bundle", false)) {
    r.only_keys(*b, "bundle", {"key_file"});
    c.bundle_key_file = resolve(file, r.string(*b, "bundle", "key_file", false));
  }
  if (const toml::table* t = r.table(root, "", "cosign", false)) {
    r.only_keys(*t, "cosign", {"key_file", "name"});
    c.cosign_key_file = resolve(file, r.string(*t, "cosign", "key_file", true));
    c.cosigner_name = r.string(*t, "cosign", "name", true);
    if (!valid_cosigner_name(c.cosigner_name))
      r.error(t->get("name"), "cosign.name", "must be 1 to 256 printable characters without space or '+'");
  }
  if (const toml::table* t = r.table(root, "", "tpm", false)) {
    r.only_keys(*t, "tpm", {"ca_file"});
    c.tpm_ca_file = resolve(file, r.string(*t, "tpm", "ca_file", true));
  }
  if (const toml::table* t = r.table(root, "", "database", false)) {
    r.only_keys(*t, "database", {"url"});
    c.database_url = r.string(*t, "database", "url", true);
    if (!c.database_url.starts_with("postgresql://") && !c.database_url.starts_with("postgres://"))
      r.error(t->get("url"), "database.url", "must be a postgresql:// URI (libpq's connection URI)");
  }
  std::set<std::string> ids;
  if (const toml::array* sites = r.array_of_tables(root, "", "sites")) {
    for (size_t i = 0; i < sites->size(); ++i) {
      const toml::table& t = *sites->get(i)->as_table();
      std::string path = "sites[" + std::to_string(i) + "]";
      r.only_keys(t, path, {"id", "token_sha256", "token_file", "client_cert_cn", "client_cert_sha256", "keys",
                            "checkpoint_only"});
      SiteEntry s;
      s.id = r.string(t, path, "id", true);
      if (!s.id.empty() && !is_valid_id(s.id)) r.error(t.get("id"), path + ".id", "may hold only A-Z a-z 0-9 . _ : / -");
      if (!ids.insert(s.id).second) r.error(t.get("id"), path + ".id", "duplicate site id '" + s.id + "'");
      s.credential = read_credential(r, file, t, path);
      if (const toml::node* n = t.get("checkpoint_only")) {
        if (auto v = n->value_exact<bool>()) s.checkpoint_only = *v;
        else r.error(n, path + ".checkpoint_only", "must be true or false");
      }
      if (const toml::node* k = t.get("keys")) {
        const toml::array* a = k->as_array();
        if (!a) r.error(k, path + ".keys", "must be an array of PEM file names");
        else
          for (size_t j = 0; j < a->size(); ++j) {
            auto v = a->get(j)->value<std::string>();
            if (!v) r.error(a->get(j), path + ".keys[" + std::to_string(j) + "]", "must be a string");
            else s.keys.push_back(resolve(file, *v));
          }
      }
      c.sites.push_back(std::move(s));
    }
  }
  for (auto [table, list] : {std::pair{"readers", &c.readers}, std::pair{"admins", &c.admins}}) {
    std::set<std::string> names;
    if (const toml::array* entries = r.array_of_tables(root, "", table)) {
      for (size_t i = 0; i < entries->size(); ++i) {
        const toml::table& t = *entries->get(i)->as_table();
        std::string path = std::string(table) + "[" + std::to_string(i) + "]";
        r.only_keys(t, path, {"name", "token_sha256", "token_file", "client_cert_cn", "client_cert_sha256"});
        ReaderEntry e;
        e.name = r.string(t, path, "name", true);
        if (!e.name.empty() && !is_valid_id(e.name)) r.error(t.get("name"), path + ".name", "may hold only A-Z a-z 0-9 . _ : / -");
        if (!names.insert(e.name).second) r.error(t.get("name"), path + ".name", "duplicate name '" + e.name + "'");
        e.credential = read_credential(r, file, t, path);
        list->push_back(std::move(e));
      }
    }
  }
  if (c.sites.empty() && c.admins.empty())
    r.error(&root, "sites", "at least one [[sites]] entry is required (or an [[admins]] entry to enroll sites at run time)");
  if (!r.errors_.empty()) return tl::unexpected(std::move(r.errors_));
  return c;
}

std::filesystem::path site_file_name(const std::string& site_id) {
  static const char* kHex = "0123456789ABCDEF";
  std::string name;
  for (char c : site_id) {
    if (c == '/' || c == ':' || c == '%') {
      name += '%';
      name += kHex[static_cast<unsigned char>(c) >> 4];
      name += kHex[static_cast<unsigned char>(c) & 15];
    } else {
      name += c;
    }
  }
  return name + ".db";
}

}  // namespace mrv::registry
