#pragma once
// A small plain-HTTP/1.1 server on the agent's io_context for GET (and HEAD) requests:
// one coroutine accepts, one per connection reads a request, asks the handler for the
// answer and writes it, keeping the connection alive when the client asks.
//
// Bounded: at most max_connections open (more are closed at once), a request's line and
// headers at most max_request_bytes (431), no body (413), a connection idle or stalled
// for idle_timeout is closed. The handler runs on the io_context's thread: it must answer
// quickly (the agent's handlers copy a snapshot and render text, about a millisecond
// for 1,000 points).
//
// Lifetime: stop() closes the acceptor and every connection; the coroutines hold the
// shared state, so the object may be destroyed before the io_context (after stop()).
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "mrv/core/asio.hpp"
#include "mrv/core/error.hpp"

namespace mrv::agent {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

struct HttpListenerOptions {
  std::string host = "127.0.0.1";  // an IP address
  uint16_t port = 9102;            // 0: any free port (see port())
  size_t max_connections = 16;
  size_t max_request_bytes = 8192;
  std::chrono::milliseconds idle_timeout{10'000};
};

class HttpListener {
 public:
  // path: the target before '?' (not decoded); query: after it ("" when none).
  using Handler = std::function<HttpResponse(std::string_view path, std::string_view query)>;

  HttpListener(boost::asio::io_context& io, HttpListenerOptions options, Handler handler);
  ~HttpListener();  // stop()s
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  // Binds and listens, then serves on the io_context. Errors: the address is not an IP
  // address, or the port cannot be bound (in use, no permission).
  [[nodiscard]] Result<void> start();
  void stop();
  uint16_t port() const;  // the bound port (0 before start())

  struct State;  // shared with the coroutines; named here so the implementation can use it

 private:
  std::shared_ptr<State> state_;
};

}  // namespace mrv::agent
