#include "http_listener.hpp"

#include <map>
#include <optional>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "mrv/core/log.hpp"

namespace mrv::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpListener::State {
  State(asio::io_context& io, HttpListenerOptions o, Handler h)
      : io(io), options(std::move(o)), handler(std::move(h)) {}
  asio::io_context& io;
  HttpListenerOptions options;
  Handler handler;
  std::optional<tcp::acceptor> acceptor;
  std::map<uint64_t, beast::tcp_stream*> open;  // connections being served, to close at stop()
  uint64_t next_id = 0;
  bool stopped = false;
  uint16_t port = 0;
  std::chrono::steady_clock::time_point last_refusal_logged{};
};

namespace {

// Beast in Boost 1.74 takes and gives boost::string_view.
beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }
std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

using Response = http::response<http::string_body>;

Response plain(http::status status, unsigned version, std::string body) {
  Response res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  return res;
}

// The answer to one parsed request.
Response answer(HttpListener::Handler& handler, const http::request<http::empty_body>& req) {
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    Response res = plain(http::status::method_not_allowed, req.version(), "only GET and HEAD\n");
    res.set(http::field::allow, "GET, HEAD");
    return res;
  }
  std::string_view target = sv(req.target());
  auto q = target.find('?');
  std::string_view path = target.substr(0, q), query = q == std::string_view::npos ? "" : target.substr(q + 1);
  HttpResponse r;
  try {
    r = handler(path, query);
  } catch (const std::exception& e) {  // a programming error: answered, logged, the agent runs on
    log::error("http: " + std::string(target) + ": " + e.what());
    r = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
  }
  Response res{static_cast<http::status>(r.status), req.version()};
  res.set(http::field::content_type, bsv(r.content_type));
  res.body() = std::move(r.body);
  return res;
}

asio::awaitable<void> serve(std::shared_ptr<HttpListener::State> s, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  uint64_t id = s->next_id++;
  s->open.emplace(id, &stream);
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  while (!s->stopped) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<uint32_t>(s->options.max_request_bytes));
    stream.expires_after(s->options.idle_timeout);
    co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    std::optional<Response> res;
    bool keep_alive = false;
    if (ec == http::error::header_limit) {
      res = plain(http::status::request_header_fields_too_large, 11, "request over " +
                  std::to_string(s->options.max_request_bytes) + " bytes\n");
    } else if (ec == http::error::unexpected_body) {
      res = plain(http::status::payload_too_large, 11, "a request here has no body\n");
    } else if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
               ec == asio::error::connection_reset || ec == asio::error::eof) {
      break;
    } else if (ec) {
      res = plain(http::status::bad_request, 11, "bad request: " + ec.message() + "\n");
    } else {
      const auto& req = parser.get();
      res = answer(s->handler, req);
      keep_alive = req.keep_alive();
      if (req.method() == http::verb::head) {
        res->content_length(res->body().size());
        res->body().clear();
      }
    }
    res->set(http::field::server, "mrv-agent");
    res->set(http::field::cache_control, "no-store");
    res->set("X-Content-Type-Options", "nosniff");
    res->keep_alive(keep_alive);
    if (!res->has_content_length()) res->prepare_payload();
    stream.expires_after(s->options.idle_timeout);
    co_await http::async_write(stream, *res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
  s->open.erase(id);
}

asio::awaitable<void> accept_loop(std::shared_ptr<HttpListener::State> s) {
  boost::system::error_code ec;
  while (!s->stopped) {
    tcp::socket socket = co_await s->acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (s->stopped) break;
    if (ec) {  // out of file descriptors, and the like: try again a little later
      asio::steady_timer pause(s->io, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (s->open.size() >= s->options.max_connections) {
      auto now = std::chrono::steady_clock::now();
      if (now - s->last_refusal_logged > std::chrono::minutes(1)) {
        log::warning("http: " + std::to_string(s->open.size()) + " connections open (max_connections): closing new ones");
        s->last_refusal_logged = now;
      }
      socket.close(ec);
      continue;
    }
    asio::co_spawn(s->io, serve(s, std::move(socket)), asio::detached);
  }
}

}  // namespace

HttpListener::HttpListener(asio::io_context& io, HttpListenerOptions options, Handler handler)
    : state_(std::make_shared<State>(io, std::move(options), std::move(handler))) {}

HttpListener::~HttpListener() { stop(); }

Result<void> HttpListener::start() {
  State& s = *state_;
  std::string where = s.options.host + ":" + std::to_string(s.options.port);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(s.options.host, ec);
  if (ec) return fail(ErrorCode::config, where, "not an IP address");
  tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.emplace(s.io);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    s.acceptor.reset();
    return fail(ErrorCode::io, where, "cannot listen: " + ec.message());
  }
  s.port = s.acceptor->local_endpoint().port();
  asio::co_spawn(s.io, accept_loop(state_), asio::detached);
  return {};
}

void HttpListener::stop() {
  State& s = *state_;
  s.stopped = true;
  boost::system::error_code ec;
  if (s.acceptor) s.acceptor->close(ec);
  std::vector<beast::tcp_stream*> open;
  for (auto& [id, stream] : s.open) open.push_back(stream);
  for (auto* stream : open) stream->socket().close(ec);  // their coroutines end with operation_aborted
}

uint16_t HttpListener::port() const { return state_->port; }

}  // namespace mrv::agent
