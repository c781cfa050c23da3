#include "tls_context.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <openssl/ssl.h>

namespace mrv::registry {

namespace asio = boost::asio;

Result<void> load_tls(asio::ssl::context& tls, const RegistryConfig& config) {
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
  return {};
}

Result<void> check_tls_files(const RegistryConfig& config) {
  struct stat st {};
  if (::stat(config.key_file.c_str(), &st) != 0)
    return fail(ErrorCode::config, config.key_file.string(), std::string("cannot read the key: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return fail(ErrorCode::config, config.key_file.string(), "the key is not a regular file");
  if ((st.st_mode & S_IRWXO) != 0)
    return fail(ErrorCode::config, config.key_file.string(), "the TLS key is readable or writable by others (chmod o-rwx it)");
  asio::ssl::context tls{asio::ssl::context::tls_server};
  return load_tls(tls, config);
}

}  // namespace mrv::registry
