#pragma once
// One HTTPS connection of the registry, as a coroutine on the I/O thread: TLS handshake,
// then requests one after another, each read and answered within its limits
// (docs/registry-api.md §1.1):
//   - the TLS handshake, request line and headers within header_timeout_ms (of the
//     connection, then of each request's first byte), at most max_header_bytes;
//   - the request is admitted on its headers alone (credential, site, method, type,
//     declared size) before a byte of body is read: a stranger makes the registry hold
//     no more than one bounded read buffer;
//   - the body within request_timeout_ms of the request's first byte, at most the
//     endpoint's limit, and only while all bodies held together stay within
//     max_body_bytes_total;
//   - the request handled on a worker thread (the I/O thread never blocks);
//   - the answer written with no pause longer than idle_timeout_ms, which also bounds
//     the wait for the next request on a kept-alive connection.
// Every failure, malformed HTTP included, ends in a JSON error answer or a closed
// connection; no exception leaves the coroutine.
#include <string>

#include "mrv/core/asio.hpp"
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "api.hpp"
#include "connections.hpp"

namespace mrv::registry {

struct ServerContext {
  ServerContext(const RegistryConfig& c, boost::asio::ssl::context& t, Api& a, boost::asio::thread_pool& w)
      : config(c), tls(t), api(a), workers(w), connections(static_cast<size_t>(c.max_connections)),
        budget(c.max_body_bytes_total) {}
  const RegistryConfig& config;
  boost::asio::ssl::context& tls;
  Api& api;
  boost::asio::thread_pool& workers;
  ConnectionTable connections;
  BodyBudget budget;
  bool stopping = false;
  std::function<void()> on_idle;  // called when the last connection closes while stopping
};

boost::asio::awaitable<void> serve_connection(ServerContext& s, boost::asio::ip::tcp::socket socket);

}  // namespace mrv::registry
