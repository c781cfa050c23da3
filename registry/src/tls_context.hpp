#pragma once
// The registry's TLS server context: TLS 1.2 or newer, its certificate chain and key, and
// client certificates checked against client_ca_file when one is given.
#include "mrv/core/asio.hpp"
#include <boost/asio/ssl/context.hpp>

#include "mrv/core/error.hpp"
#include "mrv/registry/registry_config.hpp"

namespace mrv::registry {

[[nodiscard]] Result<void> load_tls(boost::asio::ssl::context& tls, const RegistryConfig& config);

// Loads them into a throwaway context (check-config), and refuses a key file others
// may read.
[[nodiscard]] Result<void> check_tls_files(const RegistryConfig& config);

}  // namespace mrv::registry
