#pragma once
// mrv-registry's HTTPS server (docs/registry-api.md): TLS 1.2+, a client certificate or a
// bearer token per request. One I/O thread serves every connection within the input
// limits of registry_config.hpp (src/http_session.hpp); requests are handled on worker
// threads by the site stores, which verify before they store.
#include <cstdint>
#include <memory>

#include "mrv/core/error.hpp"
#include "mrv/registry/registry_config.hpp"

namespace mrv::registry {

class Server {
 public:
  // Loads the TLS files and opens every configured site's store; errors name the file.
  [[nodiscard]] static Result<std::unique_ptr<Server>> create(RegistryConfig config);
  ~Server();

  // Binds and serves until stop(); the port is bound when it returns an error or serves.
  [[nodiscard]] Result<void> run();
  // Thread-safe: stops accepting and lets connections end.
  void stop();

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv::registry
