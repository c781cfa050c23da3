#pragma once
// A small HTTPS/1.1 client for the registry API, on Boost.Beast and OpenSSL: TLS 1.2 or
// newer, the server's chain checked against the CA file (or the system store) and its
// name or IP against the URL's host; a client certificate (mutual TLS) or a bearer
// token. One persistent connection, reopened after any failure. Every request is bounded
// by the timeout (connect, TLS handshake, send and response together). Not thread-safe.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv::uploader {

struct HttpsClientOptions {
  std::string url;  // https://host[:port]; request targets are appended
  std::filesystem::path ca_file;
  std::filesystem::path client_cert_file, client_key_file;
  std::string bearer_token;  // sent as Authorization: Bearer, when not empty
  std::chrono::milliseconds timeout{30'000};
  size_t max_response_bytes = 1 << 20;
};

struct HttpRequest {
  std::string_view method = "GET";
  std::string target;  // "/v1/sites/x/records"
  std::string_view content_type, content_encoding;
  std::string_view body;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

class HttpsClient {
 public:
  // Loads the CA, certificate and key files (errors name the file).
  [[nodiscard]] static Result<HttpsClient> create(HttpsClientOptions options);
  HttpsClient(HttpsClient&&) noexcept;
  HttpsClient& operator=(HttpsClient&&) noexcept;
  ~HttpsClient();

  // Any HTTP status is a response; transport failures (DNS, connect, TLS, timeout, a
  // closed connection, a response that is not HTTP) are errors naming the URL.
  [[nodiscard]] Result<HttpResponse> send(const HttpRequest& request);
  // Bytes written to the network by requests so far (headers and bodies; TLS excluded).
  uint64_t bytes_sent() const;

 private:
  struct Impl;
  explicit HttpsClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv::uploader
