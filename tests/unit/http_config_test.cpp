#include <catch2/catch.hpp>

#include "mrv/core/config.hpp"
#include "test_support.hpp"

using namespace mrv;

namespace {
const char* kBase = R"(
[site]
id = "s1"
[journal]
path = "j.db"
[signing]
key_file = "k.key"
[[points]]
id = "m1"
unit = "kWh"
)";
}  // namespace

TEST_CASE("http config: without [http] the listener is on, on loopback port 9102", "[http][config]") {
  auto c = parse_config(kBase, "/cfg/site.toml");
  REQUIRE(c);
  CHECK(c->http.enabled);
  CHECK(c->http.listen_host == "127.0.0.1");
  CHECK(c->http.listen_port == 9102);
  CHECK(c->http.require_clock_sync);
  CHECK(c->http.source_stale_s == 300);
  CHECK(c->http.upload_lag_max_s == 3600);
}

TEST_CASE("http config: every key is read; IPv6 goes in brackets; port 0 is any", "[http][config]") {
  auto c = parse_config(std::string(kBase) + R"(
[http]
enabled = true
listen = "[::1]:0"
max_connections = 4
max_request_bytes = 4096
idle_timeout_ms = 2000
source_stale_s = 30
upload_lag_max_s = 600
require_clock_sync = false
sparkline_step_s = 0
)", "/cfg/site.toml");
  REQUIRE(c);
  CHECK(c->http.listen_host == "::1");
  CHECK(c->http.listen_port == 0);
  CHECK(c->http.max_connections == 4);
  CHECK(c->http.max_request_bytes == 4096);
  CHECK(c->http.idle_timeout_ms == 2000);
  CHECK(c->http.source_stale_s == 30);
  CHECK(c->http.upload_lag_max_s == 600);
  CHECK_FALSE(c->http.require_clock_sync);
  CHECK(c->http.sparkline_step_s == 0);
  auto off = parse_config(std::string(kBase) + "[http]\nenabled = false\n", "/cfg/site.toml");
  REQUIRE(off);
  CHECK_FALSE(off->http.enabled);
}

TEST_CASE("http config: a bad listen address, flag or key is an error with file:line", "[http][config]") {
  std::string base = kBase;
  int http_line = 11;  // kBase has 10 lines, then [http]
  auto line = [&](int n) { return "/cfg/site.toml:" + std::to_string(http_line + n) + ": "; };
  for (const char* bad : {"localhost:9102", "127.0.0.1", "127.0.0.1:99999", "::1:9102", "[::1]9102", "10.0.0.1:x"}) {
    INFO(bad);
    auto e = test::config_errors(base + "[http]\nlisten = \"" + bad + "\"\n");
    REQUIRE(e.size() == 1);
    CHECK(e[0].rfind(line(1) + "http.listen: must be IP:port", 0) == 0);
  }
  auto e = test::config_errors(base + "[http]\nlisten = 9102\nrequire_clock_sync = \"no\"\nport = 1\nsource_stale_s = 0\n");
  REQUIRE(e.size() == 4);
  CHECK(e[0] == line(3) + "http.port: unknown key");
  CHECK(e[1] == line(2) + "http.require_clock_sync: must be true or false");
  CHECK(e[2] == line(1) + "http.listen: must be a string");
  CHECK(e[3] == line(4) + "http.source_stale_s: must be between 1 and 2592000");
}
