#include <catch2/catch.hpp>

#include "mrv/core/gzip.hpp"

using namespace mrv;

TEST_CASE("gzip: round trip, and damaged or cut streams are refused", "[gzip]") {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "{\"seq\":" + std::to_string(i) + ",\"record\":\"...\"}\n";
  std::string z;
  REQUIRE(gzip_compress(text, 6, z));
  CHECK(z.size() < text.size() / 4);
  auto back = gzip_decompress(z, text.size());
  REQUIRE(back);
  CHECK(*back == text);
  CHECK_FALSE(gzip_decompress(z, text.size() - 1));  // over the cap
  CHECK_FALSE(gzip_decompress(z.substr(0, z.size() - 3), 1 << 30));  // cut
  std::string bad = z;
  bad[bad.size() - 6] ^= 1;  // the CRC
  CHECK_FALSE(gzip_decompress(bad, 1 << 30));
  CHECK_FALSE(gzip_decompress(z + "x", 1 << 30));  // trailing bytes
  CHECK_FALSE(gzip_decompress("", 100));
  std::string empty;
  REQUIRE(gzip_compress("", 1, empty));
  CHECK(gzip_decompress(empty, 10).value() == "");
}
