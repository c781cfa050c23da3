#include "mrv/uploader/https_client.hpp"

#include <openssl/ssl.h>

#include <optional>

#include "mrv/core/asio.hpp"
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace mrv::uploader {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Endpoint {
  std::string host, port = "443";
};

std::optional<Endpoint> parse_url(std::string_view url) {
  if (!url.starts_with("https://")) return std::nullopt;
  url.remove_prefix(8);
  if (auto slash = url.find('/'); slash != std::string_view::npos) url = url.substr(0, slash);
  Endpoint e;
  if (url.starts_with("[")) {  // [v6 address]:port
    auto close = url.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    e.host = std::string(url.substr(1, close - 1));
    url.remove_prefix(close + 1);
    if (url.starts_with(":")) e.port = std::string(url.substr(1));
  } else if (auto colon = url.rfind(':'); colon != std::string_view::npos) {
    e.host = std::string(url.substr(0, colon));
    e.port = std::string(url.substr(colon + 1));
  } else {
    e.host = std::string(url);
  }
  if (e.host.empty() || e.port.empty()) return std::nullopt;
  return e;
}

// Beast in Boost 1.74 takes boost::string_view.
beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

bool is_ip_address(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

struct HttpsClient::Impl {
  HttpsClientOptions options;
  Endpoint endpoint;
  asio::io_context io;
  asio::ssl::context tls{asio::ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  uint64_t bytes_sent = 0;

  Error transport_error(const std::string& what, const boost::system::error_code& ec) {
    return Error{ErrorCode::io, options.url, what + ": " + ec.message()};
  }

  // Runs the io_context until the operation started on it completes; the stream's
  // deadline (expires_after) cancels it when the time is up.
  void run() {
    io.restart();
    io.run();
  }

  Result<void> connect(std::chrono::steady_clock::time_point deadline) {
    stream.emplace(io, tls);
    buffer.clear();
    auto& tcp_layer = beast::get_lowest_layer(*stream);
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(endpoint.host, endpoint.port, ec);
    if (ec) return tl::unexpected(transport_error("resolve " + endpoint.host, ec));
    tcp_layer.expires_at(deadline);
    tcp_layer.async_connect(results, [&](boost::system::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) return tl::unexpected(transport_error("connect", ec));
    SSL* ssl = stream->native_handle();
    if (!is_ip_address(endpoint.host)) SSL_set_tlsext_host_name(ssl, endpoint.host.c_str());
    stream->set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
    stream->async_handshake(asio::ssl::stream_base::client, [&](boost::system::error_code e) { ec = e; });
    run();
    if (ec) return tl::unexpected(transport_error("TLS handshake", ec));
    return {};
  }

  void drop() {
    if (!stream) return;
    boost::system::error_code ignored;
    beast::get_lowest_layer(*stream).socket().close(ignored);
    stream.reset();
  }

  Result<HttpResponse> send(const HttpRequest& request) {
    auto deadline = std::chrono::steady_clock::now() + options.timeout;
    bool reused = stream.has_value();
    auto r = send_once(request, deadline);
    // A kept-alive connection the server has closed meanwhile fails at once: try again
    // on a new one (a write is idempotent, so a repeat is harmless).
    if (!r && reused && std::chrono::steady_clock::now() < deadline) r = send_once(request, deadline);
    return r;
  }

  Result<HttpResponse> send_once(const HttpRequest& request, std::chrono::steady_clock::time_point deadline) {
    if (!stream)
      if (auto r = connect(deadline); !r) {
        drop();
        return tl::unexpected(r.error());
      }
    http::request<http::string_body> req{http::string_to_verb(bsv(request.method)), bsv(request.target), 11};
    req.set(http::field::host, endpoint.host);
    req.set(http::field::user_agent, "mrv-agent");
    if (!options.bearer_token.empty()) req.set(http::field::authorization, "Bearer " + options.bearer_token);
    if (!request.content_type.empty()) req.set(http::field::content_type, bsv(request.content_type));
    if (!request.content_encoding.empty()) req.set(http::field::content_encoding, bsv(request.content_encoding));
    req.body() = std::string(request.body);
    req.prepare_payload();
    req.keep_alive(true);

    boost::system::error_code ec;
    size_t written = 0;
    beast::get_lowest_layer(*stream).expires_at(deadline);
    http::async_write(*stream, req, [&](boost::system::error_code e, size_t n) { ec = e; written = n; });
    run();
    bytes_sent += written;
    if (ec) {
      drop();
      return tl::unexpected(transport_error("send " + request.target, ec));
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_response_bytes);
    http::async_read(*stream, buffer, parser, [&](boost::system::error_code e, size_t) { ec = e; });
    run();
    if (ec) {
      drop();
      return tl::unexpected(transport_error("response to " + request.target, ec));
    }
    auto& res = parser.get();
    HttpResponse out{static_cast<int>(res.result_int()), std::move(res.body())};
    if (!parser.keep_alive()) drop();
    return out;
  }
};

Result<HttpsClient> HttpsClient::create(HttpsClientOptions options) {
  auto impl = std::make_unique<Impl>();
  auto endpoint = parse_url(options.url);
  if (!endpoint) return fail(ErrorCode::config, options.url, "not an https://host[:port] URL");
  impl->endpoint = *endpoint;
  auto& tls = impl->tls;
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
  tls.set_verify_mode(asio::ssl::verify_peer);
  boost::system::error_code ec;
  if (options.ca_file.empty()) tls.set_default_verify_paths(ec);
  else tls.load_verify_file(options.ca_file.string(), ec);
  if (ec) return fail(ErrorCode::config, options.ca_file.string(), "cannot load CA certificates: " + ec.message());
  if (!options.client_cert_file.empty()) {
    tls.use_certificate_chain_file(options.client_cert_file.string(), ec);
    if (ec) return fail(ErrorCode::config, options.client_cert_file.string(), "cannot load the client certificate: " + ec.message());
    tls.use_private_key_file(options.client_key_file.string(), asio::ssl::context::pem, ec);
    if (ec) return fail(ErrorCode::config, options.client_key_file.string(), "cannot load the client key: " + ec.message());
  }
  impl->options = std::move(options);
  return HttpsClient(std::move(impl));
}

HttpsClient::HttpsClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpsClient::HttpsClient(HttpsClient&&) noexcept = default;
HttpsClient& HttpsClient::operator=(HttpsClient&&) noexcept = default;
HttpsClient::~HttpsClient() = default;

Result<HttpResponse> HttpsClient::send(const HttpRequest& request) { return impl_->send(request); }
uint64_t HttpsClient::bytes_sent() const { return impl_->bytes_sent; }

}  // namespace mrv::uploader
