#pragma once
// How the registry reads one request with Beast (docs/registry-api.md §1.1), apart from
// the socket: the parser's limits, the admission on headers with the body rules, and the
// answer to what Beast cannot parse. The connection's coroutine and the fuzz target
// (fuzz/registry_request_fuzz.cpp) run these same rules.
#include <optional>

#include <boost/beast/http.hpp>

#include "api.hpp"

namespace mrv::registry {

using RequestParser = http::request_parser<http::string_body>;

// Headers at most max_header_bytes; the declared body length is judged on admission.
void limit_headers(RequestParser& parser, const RegistryConfig& config);

// The request announces a body (chunked, or a Content-Length above 0).
bool has_body(const RequestParser& parser);

// The verdict on a request whose headers are parsed: the API's admission, then a body
// where the endpoint takes none (400) or a declared length over its limit (413). Before
// reading an admitted body, set parser.body_limit(admission.body_limit).
Admission admit_headers(const Api& api, const RequestParser& parser, const std::optional<PeerCertificate>& cert);

// The JSON error for a request Beast could not parse (431, 413 or 400).
Response malformed_answer(const boost::system::error_code& ec, const RegistryConfig& config);

}  // namespace mrv::registry
