#include "request_rules.hpp"

#include <cstdint>
#include <limits>
#include <string>

namespace mrv::registry {

void limit_headers(RequestParser& parser, const RegistryConfig& config) {
  parser.header_limit(static_cast<std::uint32_t>(config.max_header_bytes));
  // Not boost::none: Beast 1.74 compares a length with an empty optional as always over it.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

bool has_body(const RequestParser& parser) {
  return parser.chunked() || parser.content_length().value_or(0) > 0;
}

Admission admit_headers(const Api& api, const RequestParser& parser, const std::optional<PeerCertificate>& cert) {
  Admission admission = api.admit(parser.get().base(), cert);
  if (admission.refusal) return admission;
  if (has_body(parser) && admission.body_limit == 0)
    admission.refusal = Api::error_response(400, "bad_request", "format", "this request takes no body");
  else if (parser.content_length().value_or(0) > admission.body_limit)
    admission.refusal = Api::error_response(413, "too_large", "size",
                                            "body over " + std::to_string(admission.body_limit) + " bytes");
  return admission;
}

Response malformed_answer(const boost::system::error_code& ec, const RegistryConfig& config) {
  namespace http = boost::beast::http;
  if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
    return Api::error_response(431, "too_large", "size",
                               "request line and headers (or trailers) over " + std::to_string(config.max_header_bytes) + " bytes");
  if (ec == http::error::body_limit)
    return Api::error_response(413, "too_large", "size", "body over " + std::to_string(config.max_body_bytes) + " bytes");
  return Api::error_response(400, "bad_request", "format", "malformed HTTP/1.1 request: " + ec.message());
}

}  // namespace mrv::registry
