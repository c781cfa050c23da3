#include "mrv/registry/server.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <set>
#include <optional>

#include "mrv/core/asio.hpp"
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "mrv/agent/bundle.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/log.hpp"
#include "mrv/core/secret_file.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/registry/site_store.hpp"
#include "verify_pool.hpp"

namespace mrv::registry {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Response = http::response<http::string_body>;

namespace {

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

// Who sent a request: a site (its id) or a reader (a verifier), or nobody known.
struct Principal {
  enum class Kind { none, site, reader } kind = Kind::none;
  std::string name;
};

// A client certificate's subject CN and the SHA-256 of its DER.
struct PeerCertificate {
  std::string cn, sha256_hex;
};

std::optional<PeerCertificate> peer_certificate(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  PeerCertificate p;
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn - 1);
  p.cn = cn;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha256(), md, &len);
  p.sha256_hex = to_hex(md, len);
  return p;
}

bool matches(const Credential& c, const std::optional<std::string>& token_sha256,
             const std::optional<PeerCertificate>& cert) {
  if (token_sha256) return !c.token_sha256.empty() && c.token_sha256 == *token_sha256;
  if (!cert) return false;
  return (!c.client_cert_cn.empty() && c.client_cert_cn == cert->cn) ||
         (!c.client_cert_sha256.empty() && c.client_cert_sha256 == cert->sha256_hex);
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = from_hex(s.substr(i + 1, 2));
      if (hex && hex->size() == 1) {
        out += (*hex)[0];
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// The path's segments (percent-decoded) and the query's parameters.
struct Target {
  std::vector<std::string> path;
  std::map<std::string, std::string> query;
};

Target parse_target(std::string_view target) {
  Target t;
  std::string_view path = target.substr(0, target.find('?'));
  if (target.find('?') != std::string_view::npos) {
    std::string_view q = target.substr(target.find('?') + 1);
    while (!q.empty()) {
      std::string_view pair = q.substr(0, q.find('&'));
      q = q.find('&') == std::string_view::npos ? std::string_view() : q.substr(q.find('&') + 1);
      auto eq = pair.find('=');
      t.query[percent_decode(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : percent_decode(pair.substr(eq + 1));
    }
  }
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    t.path.push_back(percent_decode(path.substr(0, slash)));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return t;
}

}  // namespace

struct Server::Impl {
  RegistryConfig config;
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_server};
  std::unique_ptr<VerifyPool> pool;
  std::map<std::string, std::unique_ptr<SiteStore>, std::less<>> sites;
  std::optional<Signer> bundle_signer;  // signs the manifests of bundles (not thread-safe)
  std::mutex bundle_mutex;
  std::atomic<uint64_t> bundle_count{0};
  std::optional<tcp::acceptor> acceptor;
  std::atomic<bool> stopping{false};
  std::mutex connections_mutex;
  std::condition_variable connections_done;
  int connections = 0;
  std::multiset<int> open_sockets;  // shut down at stop, so no connection outlives the server

  Principal authenticate(const http::request<http::string_body>& req, const std::optional<PeerCertificate>& cert) {
    std::optional<std::string> token_sha256;
    auto auth = sv(req[http::field::authorization]);
    if (auth.starts_with("Bearer ")) token_sha256 = to_hex(sha256(auth.substr(7)));
    for (const auto& s : config.sites)
      if (matches(s.credential, token_sha256, cert)) return {Principal::Kind::site, s.id};
    for (const auto& r : config.readers)
      if (matches(r.credential, token_sha256, cert)) return {Principal::Kind::reader, r.name};
    return {};
  }

  static Response json_response(int status, std::string body, const std::string& type = "application/json") {
    Response res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, type);
    res.set(http::field::server, "mrv-registry");
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }
  static Response refusal(const Refusal& r) { return json_response(r.status, r.to_json()); }
  static Response refusal(int status, std::string error, std::string check, std::string message) {
    return refusal(Refusal{status, std::move(error), std::move(check), std::move(message), {}, {}});
  }
  static Response answer(const Answer<std::string>& a, const std::string& type = "application/json") {
    return a ? json_response(200, *a, type) : refusal(a.error());
  }

  static std::optional<uint64_t> number(const Target& t, const std::string& key) {
    auto it = t.query.find(key);
    if (it == t.query.end()) return std::nullopt;
    try {
      size_t used = 0;
      uint64_t v = std::stoull(it->second, &used);
      if (used == it->second.size()) return v;
    } catch (...) {}
    return std::nullopt;
  }

  // A verifier bundle of the site's records in [from, to) (docs/verification.md §4), its
  // manifest signed by the registry's key, written to a temp file the caller sends.
  Response bundle(SiteStore& store, Target& t, std::optional<std::filesystem::path>& file) {
    if (!bundle_signer)
      return refusal(404, "not_found", "format", "this registry makes no bundles (no [bundle] key_file)");
    auto from = parse_time_ms(t.query["from"]);
    auto to = parse_time_ms(t.query["to"]);
    if (!from || !to) return refusal(400, "bad_request", "format", "from and to must be UTC ms or RFC 3339");
    auto journal = Journal::open_read_only(store.journal_path());  // its own snapshot: no site lock
    if (!journal) return refusal(500, "storage", "storage", journal.error().to_string());
    auto tmp = config.data_dir / "tmp" / ("bundle-" + std::to_string(::getpid()) + "-" +
                                          std::to_string(++bundle_count) + ".tar.gz");
    std::error_code ec;
    std::filesystem::create_directories(tmp.parent_path(), ec);
    agent::BundleRequest request;
    request.from_ms = *from;
    request.to_ms = *to;
    request.out = tmp;
    request.signer = &*bundle_signer;
    request.registry_signer = true;
    auto latest = journal->latest_checkpoint();
    if (!latest) return refusal(500, "storage", "storage", latest.error().to_string());
    if (!*latest) return refusal(404, "not_found", "checkpoint", "no checkpoint of the site yet: nothing to prove a bundle with");
    request.max_seq = (*latest)->checkpoint.tree_size;
    std::lock_guard lock(bundle_mutex);
    auto written = agent::write_bundle(*journal, store.id(), request);
    if (!written) {
      std::filesystem::remove(tmp, ec);
      int status = written.error().code == ErrorCode::invalid_argument ? 400 : 500;
      return refusal(status, status == 400 ? "bad_request" : "storage", "format", written.error().to_string());
    }
    file = tmp;
    return json_response(200, "", "application/gzip");
  }

  Response handle(const http::request<http::string_body>& req, const std::optional<PeerCertificate>& cert,
                  std::optional<std::filesystem::path>& file) {
    Principal who = authenticate(req, cert);
    if (who.kind == Principal::Kind::none)
      return refusal(401, "unauthenticated", "auth", "no known credential (a bearer token or a client certificate)");
    Target t = parse_target(sv(req.target()));
    if (t.path.size() < 3 || t.path[0] != "v1" || t.path[1] != "sites")
      return refusal(404, "not_found", "format", "no such resource: " + std::string(sv(req.target())));
    const std::string& site = t.path[2];
    if (who.kind == Principal::Kind::site && who.name != site)
      return refusal(403, "forbidden", "auth", "the credential of site '" + who.name + "' may not use site '" + site + "'");
    auto it = sites.find(site);
    if (it == sites.end()) return refusal(404, "unknown_site", "auth", "no site '" + site + "' on this registry");
    SiteStore& store = *it->second;
    std::string_view resource = t.path.size() > 3 ? std::string_view(t.path[3]) : std::string_view();
    auto method = req.method();
    bool write = method != http::verb::get && method != http::verb::head;
    if (write && who.kind != Principal::Kind::site)
      return refusal(403, "forbidden", "auth", "reader '" + who.name + "' may not write");
    const std::string& body = req.body();
    auto type = sv(req[http::field::content_type]);
    type = type.substr(0, type.find(';'));
    auto wrong_type = [&](const char* want) {
      return refusal(415, "unsupported_media_type", "format", "Content-Type must be " + std::string(want));
    };

    if (method == http::verb::put && resource == "keys" && t.path.size() == 4) return answer(store.register_key(body));
    if (method == http::verb::put && resource == "configs" && t.path.size() == 5)
      return answer(store.add_config(t.path[4], body));
    if (method == http::verb::post && resource == "records" && t.path.size() == 4) {
      if (type != "application/x-ndjson") return wrong_type("application/x-ndjson");
      auto encoding = sv(req[http::field::content_encoding]);
      if (!encoding.empty() && encoding != "gzip" && encoding != "identity")
        return refusal(415, "unsupported_media_type", "format", "Content-Encoding must be gzip or identity");
      return answer(store.post_records(body, encoding == "gzip"));
    }
    if (method == http::verb::post && resource == "checkpoints" && t.path.size() == 4) return answer(store.post_checkpoint(body));
    if (method == http::verb::post && resource == "reports" && t.path.size() == 4) {
      if (type != "application/json") return wrong_type("application/json");
      return answer(store.post_report(body));
    }
    if (method == http::verb::get) {
      if (t.path.size() == 3) return answer(store.summary());
      if (resource == "keys" && t.path.size() == 4) return answer(store.keys());
      if (resource == "checkpoints" && t.path.size() == 4)
        return answer(store.checkpoints(number(t, "min_size").value_or(0), number(t, "max_size").value_or(UINT64_MAX >> 1)));
      if (resource == "reports" && t.path.size() == 4) return answer(store.reports());
      if (resource == "bundle" && t.path.size() == 4) return bundle(store, t, file);
      if (resource == "reports" && t.path.size() == 5) return answer(store.report(t.path[4]), "application/json");
      if (resource == "records" && t.path.size() == 4) {
        if (t.query.count("from_ms") || t.query.count("to_ms")) {
          auto from = parse_time_ms(t.query["from_ms"]);
          auto to = parse_time_ms(t.query["to_ms"]);
          if (!from || !to) return refusal(400, "bad_request", "format", "from_ms and to_ms must be UTC ms or RFC 3339");
          return answer(store.records_by_time(*from, *to), "application/x-ndjson");
        }
        auto from = number(t, "from_seq"), to = number(t, "to_seq");
        if (!from || !to) return refusal(400, "bad_request", "format", "give from_seq and to_seq, or from_ms and to_ms");
        return answer(store.records(*from, *to), "application/x-ndjson");
      }
    }
    return refusal(404, "not_found", "format",
                   "no such resource: " + std::string(sv(req.method_string())) + " " + std::string(sv(req.target())));
  }

  void serve(tcp::socket socket) {
    std::string peer;
    boost::system::error_code ec;
    auto remote = socket.remote_endpoint(ec);
    if (!ec) peer = remote.address().to_string() + ":" + std::to_string(remote.port());
    // A stalled or silent client: the blocking reads and writes below fail after this.
    timeval tv{config.idle_timeout_ms / 1000, (config.idle_timeout_ms % 1000) * 1000};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    beast::ssl_stream<tcp::socket> stream(std::move(socket), tls);
    stream.handshake(asio::ssl::stream_base::server, ec);
    if (ec) {
      log::warning("registry: TLS handshake with " + peer + " failed: " + ec.message());
      return;
    }
    auto cert = peer_certificate(stream.native_handle());
    beast::flat_buffer buffer;
    while (!stopping) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(config.max_body_bytes);
      http::read(stream, buffer, parser, ec);
      if (ec == http::error::body_limit) {
        Response res = refusal(413, "too_large", "size", "body over " + std::to_string(config.max_body_bytes) + " bytes");
        log::warning("registry: " + std::string(sv(parser.get().method_string())) + " " +
                     std::string(sv(parser.get().target())) + " from " + peer + ": 413 " + res.body());
        res.keep_alive(false);
        http::write(stream, res, ec);
        // Read and drop what the client still sends (bounded), so it gets the answer
        // rather than a connection reset.
        char sink[16384];
        for (size_t drained = 0; !ec && drained < 4 * config.max_body_bytes;)
          drained += stream.read_some(asio::buffer(sink), ec);
        break;
      }
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::ssl::error::stream_truncated)
          log::info("registry: connection from " + peer + " ended: " + ec.message());
        break;
      }
      auto& req = parser.get();
      std::optional<std::filesystem::path> file;
      Response res = handle(req, cert, file);
      if (file) {  // a bundle: streamed from its temp file, then removed
        http::response<http::file_body> out{http::status::ok, 11};
        out.set(http::field::content_type, "application/gzip");
        out.set(http::field::server, "mrv-registry");
        out.body().open(file->c_str(), beast::file_mode::scan, ec);
        std::filesystem::remove(*file);  // the open descriptor keeps it readable
        if (ec) break;
        out.prepare_payload();
        out.keep_alive(req.keep_alive());
        http::write(stream, out, ec);
        if (ec || !req.keep_alive()) break;
        continue;
      }
      if (res.result_int() >= 400 && res.result_int() != 404)
        log::warning("registry: " + std::string(sv(req.method_string())) + " " + std::string(sv(req.target())) +
                     " from " + peer + ": " + std::to_string(res.result_int()) + " " + res.body());
      res.keep_alive(req.keep_alive());
      http::write(stream, res, ec);
      if (ec || !req.keep_alive()) break;
    }
    stream.shutdown(ec);
  }

  Result<void> run() {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(config.listen_host, ec);
    if (ec) return fail(ErrorCode::config, config.file.string(), "listen: not an IP address: " + config.listen_host);
    acceptor.emplace(io);
    tcp::endpoint endpoint(address, config.listen_port);
    acceptor->open(endpoint.protocol(), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail(ErrorCode::io, config.listen_host + ":" + std::to_string(config.listen_port), ec.message());
    log::notice("registry: listening on https://" + config.listen_host + ":" + std::to_string(acceptor->local_endpoint().port()) +
                " for " + std::to_string(sites.size()) + " site(s)");
    while (!stopping) {
      tcp::socket socket(io);
      acceptor->accept(socket, ec);
      if (stopping) break;
      if (ec) continue;
      std::unique_lock lock(connections_mutex);
      if (connections >= config.max_connections) {
        log::warning("registry: connection refused: " + std::to_string(connections) + " open (max_connections)");
        continue;  // closes the socket
      }
      ++connections;
      int fd = socket.native_handle();
      open_sockets.insert(fd);
      lock.unlock();
      std::thread([this, fd, s = std::move(socket)]() mutable {
        serve(std::move(s));
        std::lock_guard done(connections_mutex);
        open_sockets.erase(open_sockets.find(fd));  // one entry: a new socket may reuse the number
        if (--connections == 0) connections_done.notify_all();
      }).detach();
    }
    // Requests in flight get a moment to finish (each store commits whole or not at
    // all), then every connection is cut so none outlives the server.
    std::unique_lock lock(connections_mutex);
    connections_done.wait_for(lock, std::chrono::seconds(5), [&] { return connections == 0; });
    for (int fd : open_sockets) ::shutdown(fd, SHUT_RDWR);
    connections_done.wait(lock, [&] { return connections == 0; });
    return {};
  }
};

Result<std::unique_ptr<Server>> Server::create(RegistryConfig config) {
  auto impl = std::make_unique<Impl>();
  auto& tls = impl->tls;
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  tls.use_certificate_chain_file(config.cert_file.string(), ec);
  if (ec) return fail(ErrorCode::config, config.cert_file.string(), "cannot load the certificate: " + ec.message());
  tls.use_private_key_file(config.key_file.string(), asio::ssl::context::pem, ec);
  if (ec) return fail(ErrorCode::config, config.key_file.string(), "cannot load the key: " + ec.message());
  if (!config.client_ca_file.empty()) {
    // Client certificates are asked for and checked against this CA; a request may still
    // come with a token instead.
    tls.load_verify_file(config.client_ca_file.string(), ec);
    if (ec) return fail(ErrorCode::config, config.client_ca_file.string(), "cannot load the client CA: " + ec.message());
    tls.set_verify_mode(asio::ssl::verify_peer);
  }
  if (!config.bundle_key_file.empty()) {
    auto signer = Signer::load(config.bundle_key_file);
    if (!signer) return tl::unexpected(signer.error());
    impl->bundle_signer.emplace(std::move(*signer));
  }
  impl->pool = std::make_unique<VerifyPool>(config.verify_threads);
  // Tokens given as files are read now and kept only as their hashes.
  auto hash_token_file = [](Credential& c) -> Result<void> {
    if (c.token_file.empty()) return {};
    auto token = read_secret_file(c.token_file);
    if (!token) return tl::unexpected(token.error());
    if (token->empty()) return fail(ErrorCode::config, c.token_file.string(), "the token file is empty");
    c.token_sha256 = to_hex(sha256(*token));
    return {};
  };
  for (auto& s : config.sites)
    if (auto r = hash_token_file(s.credential); !r) return tl::unexpected(r.error());
  for (auto& e : config.readers)
    if (auto r = hash_token_file(e.credential); !r) return tl::unexpected(r.error());
  StoreLimits limits{config.max_body_bytes, config.max_batch_records};
  for (const auto& s : config.sites) {
    std::vector<PublicKey> pinned;
    for (const auto& f : s.keys) {
      auto key = PublicKey::load(f);
      if (!key) return tl::unexpected(key.error());
      pinned.push_back(std::move(*key));
    }
    auto store = SiteStore::open(config.data_dir, s.id, std::move(pinned), limits, *impl->pool);
    if (!store) return tl::unexpected(store.error());
    impl->sites.emplace(s.id, std::move(*store));
  }
  impl->config = std::move(config);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<void> Server::run() { return impl_->run(); }

void Server::stop() {
  impl_->stopping = true;
  if (impl_->acceptor) ::shutdown(impl_->acceptor->native_handle(), SHUT_RDWR);  // wakes accept()
}

}  // namespace mrv::registry
