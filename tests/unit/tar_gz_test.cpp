// The bundle's tar.gz reader and writer: a round trip, and hostile bytes never crash it.
#include <catch2/catch.hpp>

#include <random>

#include "tar_gz.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::agent;

namespace {
// Every entry as (name, data), or the first error.
Result<std::vector<std::pair<std::string, std::string>>> read_all(const std::filesystem::path& p) {
  auto r = TarGzReader::open(p);
  if (!r) return tl::unexpected(r.error());
  std::vector<std::pair<std::string, std::string>> out;
  for (;;) {
    auto e = r->next();
    if (!e) return tl::unexpected(e.error());
    if (!*e) return out;
    std::string data;
    for (;;) {
      auto piece = r->read();
      if (!piece) return tl::unexpected(piece.error());
      if (piece->empty()) break;
      data += *piece;
    }
    out.emplace_back((*e)->name, std::move(data));
  }
}
}  // namespace

TEST_CASE("tar.gz: entries round-trip, and damage is an error, never a crash", "[bundle]") {
  test::TempDir dir;
  std::string big(200'000, 'x');
  for (size_t i = 0; i < big.size(); i += 97) big[i] = static_cast<char>('a' + i % 26);
  {
    auto w = TarGzWriter::create(dir / "a.tar.gz", 1767225600);
    REQUIRE(w);
    REQUIRE(w->add("manifest.json", "{}\n"));
    REQUIRE(w->add("empty", ""));
    REQUIRE(w->add("configs/" + std::string(64, 'a') + ".toml", big));
    REQUIRE(w->close());
  }
  auto entries = read_all(dir / "a.tar.gz");
  REQUIRE(entries);
  REQUIRE(entries->size() == 3);
  CHECK((*entries)[0] == std::pair<std::string, std::string>{"manifest.json", "{}\n"});
  CHECK((*entries)[1].second.empty());
  CHECK((*entries)[2].second == big);

  std::string bytes = test::read_text(dir / "a.tar.gz");
  test::write_text(dir / "cut.tar.gz", bytes.substr(0, bytes.size() - 8));
  CHECK_FALSE(read_all(dir / "cut.tar.gz"));  // the gzip trailer (CRC-32, length) is missing
  std::mt19937 rng(7);
  int errors = 0;
  for (int i = 0; i < 300; ++i) {
    std::string damaged = bytes;
    for (int k = 0; k < 1 + i % 4; ++k) damaged[rng() % damaged.size()] = static_cast<char>(rng());
    test::write_text(dir / "d.tar.gz", damaged);
    if (!read_all(dir / "d.tar.gz")) ++errors;  // CRC-32 catches nearly all; nothing crashes
  }
  CHECK(errors >= 290);
}
