#include "mrv/registry/server.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <thread>

#include "mrv/core/asio.hpp"
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>

#include "api.hpp"
#include "http_session.hpp"
#include "mrv/core/log.hpp"
#include "tls_context.hpp"
#include "verify_pool.hpp"

namespace mrv::registry {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kStopGrace = std::chrono::seconds(5);  // requests in flight may finish

// How much of this process's CPU time went to checking signatures (docs/benchmarks.md):
// what is left is the cost of everything else the registry does per record.
void log_verification(const VerifyPool& pool) {
  auto t = pool.totals();
  if (t.signatures == 0) return;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  double process = static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
                   static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
  char line[256];
  std::snprintf(line, sizeof line,
                "registry: checked %llu signatures in %.3f s of CPU time (%.0f per CPU-second), %.1f%% of this "
                "process's %.3f s",
                static_cast<unsigned long long>(t.signatures), t.cpu_seconds,
                t.cpu_seconds > 0 ? static_cast<double>(t.signatures) / t.cpu_seconds : 0.0,
                process > 0 ? 100 * t.cpu_seconds / process : 0.0, process);
  log::notice(line);
}
}  // namespace

struct Server::Impl {
  RegistryConfig config;
  asio::io_context io{1};  // one I/O thread: connections share their state without locks
  asio::ssl::context tls{asio::ssl::context::tls_server};
  std::unique_ptr<VerifyPool> pool;
  std::unique_ptr<Api> api;
  std::optional<asio::thread_pool> workers;
  std::optional<ServerContext> context;
  std::optional<tcp::acceptor> acceptor;
  std::optional<asio::steady_timer> grace;
  Clock::time_point last_refusal_logged{};

  asio::awaitable<void> accept_loop() {
    boost::system::error_code ec;
    asio::steady_timer pause(io);
    while (!context->stopping) {
      tcp::socket socket = co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (context->stopping) break;
      if (ec) {  // out of descriptors, say: wait rather than spin
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        continue;
      }
      if (!context->connections.make_room()) {
        if (Clock::now() - last_refusal_logged > std::chrono::seconds(10)) {
          log::warning("registry: connection refused: " + std::to_string(config.max_connections) +
                       " open, all in requests (max_connections)");
          last_refusal_logged = Clock::now();
        }
        continue;  // closes the socket
      }
      asio::co_spawn(io, serve_connection(*context, std::move(socket)), asio::detached);
    }
  }

  // On the I/O thread: no new connections; idle ones end now, requests in flight get
  // kStopGrace to finish, then every connection is cut.
  void begin_stop() {
    if (context->stopping) return;
    context->stopping = true;
    boost::system::error_code ec;
    acceptor->close(ec);
    context->connections.cut(false);
    if (context->connections.size() == 0) return;
    grace.emplace(io, kStopGrace);
    context->on_idle = [this] { grace->cancel(); };
    grace->async_wait([this](boost::system::error_code) { context->connections.cut(true); });
  }
};

Result<std::unique_ptr<Server>> Server::create(RegistryConfig config) {
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  const RegistryConfig& c = impl->config;
  if (auto r = load_tls(impl->tls, c); !r) return tl::unexpected(r.error());
  impl->pool = std::make_unique<VerifyPool>(c.verify_threads);
  auto api = Api::create(c, *impl->pool);
  if (!api) return tl::unexpected(api.error());
  impl->api = std::move(*api);
  unsigned cores = std::max(2u, std::thread::hardware_concurrency());
  impl->workers.emplace(c.request_threads > 0 ? static_cast<unsigned>(c.request_threads) : cores);
  impl->context.emplace(c, impl->tls, *impl->api, *impl->workers);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  if (impl_->workers) impl_->workers->join();
}

Result<void> Server::run() {
  Impl& s = *impl_;
  const RegistryConfig& c = s.config;
  boost::system::error_code ec;
  auto address = asio::ip::make_address(c.listen_host, ec);
  if (ec) return fail(ErrorCode::config, c.file.string(), "listen: not an IP address: " + c.listen_host);
  s.acceptor.emplace(s.io);
  tcp::endpoint endpoint(address, c.listen_port);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ErrorCode::io, c.listen_host + ":" + std::to_string(c.listen_port), ec.message());
  log::notice("registry: listening on https://" + c.listen_host + ":" + std::to_string(s.acceptor->local_endpoint().port()) +
              " for " + std::to_string(s.api->site_count()) + " site(s)");
  asio::co_spawn(s.io, s.accept_loop(), asio::detached);
  for (;;) {
    try {
      s.io.run();
      break;
    } catch (const std::exception& e) {  // from a handler outside any connection's coroutine
      log::error(std::string("registry: internal error, serving on: ") + e.what());
    }
  }
  s.workers->join();
  log_verification(*s.pool);
  return {};
}

void Server::stop() {
  asio::post(impl_->io, [impl = impl_.get()] { impl->begin_stop(); });
}

}  // namespace mrv::registry
