#pragma once
// The error type every expected failure returns: a code for programs, the place it
// happened (file:line, key path, record, topic) and a message for people.
#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace mrv {

enum class ErrorCode {
  invalid_argument,  // bad input from a user or a peer
  config,            // a configuration file error
  io,                // the operating system refused (open, write, rename, ...)
  storage,           // SQLite reported an error
  storage_full,      // quota reached or disk full: back-pressure, not data loss
  corruption,        // stored data does not match its hash, chain or signature
  crypto,            // OpenSSL refused a key or a signature operation
  busy,              // back-pressure: try again later
  not_found,
};

struct Error {
  ErrorCode code;
  std::string where;    // file:line, key path, "seq 42", ... (may be empty)
  std::string message;

  [[nodiscard]] std::string to_string() const {
    return where.empty() ? message : where + ": " + message;
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(ErrorCode code, std::string where, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(where), std::move(message)});
}

}  // namespace mrv
