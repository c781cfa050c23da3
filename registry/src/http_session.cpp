#include "http_session.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <optional>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "mrv/core/log.hpp"
#include "request_rules.hpp"

namespace mrv::registry {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Stream = beast::ssl_stream<beast::tcp_stream>;
using std::chrono::milliseconds;

namespace {

constexpr size_t kReadSlack = 16 * 1024;  // read buffer beyond the header limit: one TLS record
constexpr size_t kDrainBytes = 1 << 20;   // read and dropped after an early answer, at most
constexpr auto kDrainTime = std::chrono::seconds(2);

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

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

// The peer left, went silent or was cut: nothing to answer.
bool transport_ended(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
         ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::ssl::error::stream_truncated || ec == asio::error::bad_descriptor ||
         ec.category() == asio::error::get_ssl_category();
}

// A request handled on a worker thread. Its timer, parked at the end of time and
// cancelled from the I/O thread when the reply is in, is what the connection's coroutine
// awaits: an async condition variable (no lambda crosses into a coroutine's parameters,
// which GCC 12 mishandles).
struct WorkerJob {
  explicit WorkerJob(asio::any_io_executor io) : done(io, Clock::time_point::max()) {}
  Reply reply;
  asio::steady_timer done;
};

void start_on_worker(asio::thread_pool& workers, std::shared_ptr<WorkerJob> job, Api& api, Admission admission,
                     http::request<http::string_body> request) {
  asio::post(workers, [job = std::move(job), &api, admission = std::move(admission),
                       request = std::move(request)]() mutable {
    try {
      job->reply = api.execute(admission, request.base(), request.body());
    } catch (const std::exception& e) {  // a programming error: answered, logged, the registry runs on
      log::error(std::string("registry: request failed: ") + e.what());
      job->reply = {Api::error_response(500, "internal", "format", "internal error"), {}};
    }
    auto io = job->done.get_executor();
    asio::post(io, [job = std::move(job)] { job->done.cancel(); });
  });
}

// Writes a message piece by piece, each within the idle timeout: a reader that stalls is
// cut, a slow but steady one gets a big bundle.
template <typename Body>
asio::awaitable<bool> write_message(Stream& stream, http::response<Body>& res, milliseconds idle) {
  http::response_serializer<Body> sr(res);
  boost::system::error_code ec;
  while (!sr.is_done()) {
    beast::get_lowest_layer(stream).expires_after(idle);
    co_await http::async_write_some(stream, sr, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
  }
  co_return true;
}

// Reads and drops what the client still sends after an early answer (bounded), so it
// reads the answer rather than a connection reset.
asio::awaitable<void> drain(Stream& stream, beast::flat_buffer& buffer) {
  auto& tcp = beast::get_lowest_layer(stream);
  tcp.expires_after(kDrainTime);
  char sink[16384];
  boost::system::error_code ec;
  for (size_t drained = buffer.size(); !ec && drained < kDrainBytes;)
    drained += co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
}

class Session {
 public:
  Session(ServerContext& s, tcp::socket socket)
      : s_(s), stream_(std::move(socket), s.tls), buffer_(s.config.max_header_bytes + kReadSlack) {
    boost::system::error_code ec;
    auto remote = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    peer_ = ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    me_ = s_.connections.add(peer_);
    me_->cancel = [this] { beast::get_lowest_layer(stream_).cancel(); };
  }
  ~Session() {
    s_.connections.remove(me_);
    if (s_.stopping && s_.connections.size() == 0 && s_.on_idle) s_.on_idle();
  }

  asio::awaitable<void> run() {
    try {
      co_await serve();
    } catch (const std::exception& e) {  // Beast throws on some hostile input: only this connection ends
      log::warning("registry: connection from " + peer_ + " dropped: " + e.what());
      me_->cut = true;
    }
    boost::system::error_code ec;
    auto& tcp = beast::get_lowest_layer(stream_);
    if (!me_->cut && handshaken_) {
      tcp.expires_after(milliseconds(1000));
      co_await stream_.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    }
    tcp.socket().close(ec);
  }

 private:
  const RegistryConfig& config() const { return s_.config; }
  void state(bool authenticated, bool busy) {
    me_->authenticated = authenticated;
    me_->busy = busy;
    me_->since = Clock::now();
  }

  asio::awaitable<void> serve() {
    auto& tcp = beast::get_lowest_layer(stream_);
    boost::system::error_code ec;
    auto idle = milliseconds(config().idle_timeout_ms), header = milliseconds(config().header_timeout_ms);
    tcp.expires_after(std::min(idle, header));
    co_await stream_.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (!me_->cut) log::info("registry: TLS handshake with " + peer_ + " failed: " + ec.message());
      co_return;
    }
    handshaken_ = true;
    cert_ = peer_certificate(stream_.native_handle());
    while (!s_.stopping && !me_->cut) {
      state(me_->authenticated, false);
      if (buffer_.size() == 0) {  // nothing sent yet: the connection is idle
        tcp.expires_after(idle);
        size_t n = co_await stream_.async_read_some(buffer_.prepare(buffer_.max_size()),
                                                    asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        buffer_.commit(n);
      }
      if (!co_await one_request(Clock::now())) co_return;  // its deadlines count from its first byte
    }
  }

  // Reads, handles and answers one request; false when the connection must end.
  asio::awaitable<bool> one_request(Clock::time_point start) {
    auto& tcp = beast::get_lowest_layer(stream_);
    boost::system::error_code ec;
    RequestParser parser;
    limit_headers(parser, config());
    tcp.expires_at(start + milliseconds(config().header_timeout_ms));
    co_await http::async_read_header(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (transport_ended(ec)) co_return false;
      if (co_await answer(malformed_answer(ec, config()), "", false)) co_await drain(stream_, buffer_);
      co_return false;
    }
    const auto& header = parser.get().base();
    std::string what = std::string(sv(header.method_string())) + " " + std::string(sv(header.target()));
    Admission admission = admit_headers(s_.api, parser, cert_);
    state(admission.authenticated, false);
    bool keep_alive = parser.get().keep_alive();
    bool with_body = has_body(parser);
    if (admission.refusal) {  // answered on the headers: no body is read
      bool ok = co_await answer(std::move(*admission.refusal), what, keep_alive && !with_body);
      if (ok && with_body) co_await drain(stream_, buffer_);
      co_return ok && keep_alive && !with_body;
    }

    state(true, true);
    size_t reserved = with_body ? parser.content_length().value_or(admission.body_limit) : 0;
    auto deadline = start + milliseconds(config().request_timeout_ms);
    if (reserved > 0 && !co_await s_.budget.acquire(reserved, deadline)) {
      co_await answer(Api::error_response(503, "busy", "size", "too many request bodies in flight: try again"), what, false);
      co_return false;
    }
    struct Release {
      BodyBudget& budget;
      size_t bytes;
      ~Release() { budget.release(bytes); }
    } release{s_.budget, reserved};
    if (with_body) {
      if (beast::iequals(header[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go_on{http::status::continue_, 11};
        if (!co_await write_message(stream_, go_on, milliseconds(config().idle_timeout_ms))) co_return false;
      }
      parser.body_limit(admission.body_limit);
      tcp.expires_at(deadline);
      co_await http::async_read(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (transport_ended(ec)) {
          if (ec == beast::error::timeout)
            log::warning("registry: " + what + " from " + peer_ + ": not received within request_timeout_ms");
          co_return false;
        }
        if (co_await answer(malformed_answer(ec, config()), what, false)) co_await drain(stream_, buffer_);
        co_return false;
      }
    }

    bool head = header.method() == http::verb::head;
    auto job = std::make_shared<WorkerJob>(co_await asio::this_coro::executor);
    start_on_worker(s_.workers, job, s_.api, std::move(admission), parser.release());  // `header` is gone
    co_await job->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    Reply reply = std::move(job->reply);
    keep_alive = keep_alive && !s_.stopping;
    if (reply.file) co_return co_await answer_file(*reply.file, head, keep_alive) && keep_alive;
    if (head) {
      reply.response.content_length(reply.response.body().size());
      reply.response.body().clear();
    }
    co_return co_await answer(std::move(reply.response), what, keep_alive) && keep_alive;
  }

  asio::awaitable<bool> answer(Response res, const std::string& what, bool keep_alive) {
    if (res.result_int() >= 400 && res.result_int() != 404 && !what.empty())
      log::warning("registry: " + what + " from " + peer_ + ": " + std::to_string(res.result_int()) + " " + res.body());
    res.set(http::field::server, "mrv-registry");
    res.keep_alive(keep_alive);
    if (!res.has_content_length()) res.prepare_payload();
    co_return co_await write_message(stream_, res, milliseconds(config().idle_timeout_ms));
  }

  // A bundle: streamed from its temp file, which is removed at once (the open descriptor
  // keeps it readable).
  asio::awaitable<bool> answer_file(const std::filesystem::path& file, bool head, bool keep_alive) {
    http::response<http::file_body> out{http::status::ok, 11};
    boost::system::error_code ec;
    out.body().open(file.c_str(), beast::file_mode::scan, ec);
    std::error_code removed;
    std::filesystem::remove(file, removed);
    if (!out.body().is_open()) co_return false;
    out.set(http::field::content_type, "application/gzip");
    out.set(http::field::server, "mrv-registry");
    out.keep_alive(keep_alive);
    out.prepare_payload();
    if (head) {
      Response header_only{http::status::ok, 11};
      header_only.base() = out.base();
      co_return co_await write_message(stream_, header_only, milliseconds(config().idle_timeout_ms));
    }
    co_return co_await write_message(stream_, out, milliseconds(config().idle_timeout_ms));
  }

  ServerContext& s_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::string peer_;
  ConnectionTable::Handle me_;
  std::optional<PeerCertificate> cert_;
  bool handshaken_ = false;
};

asio::awaitable<void> run_session(ServerContext& s, tcp::socket socket) {
  Session session(s, std::move(socket));
  co_await session.run();
}

}  // namespace

asio::awaitable<void> serve_connection(ServerContext& s, tcp::socket socket) {
  return run_session(s, std::move(socket));
}

}  // namespace mrv::registry
