// The bundle's tar.gz reader and writer: a round trip, and hostile bytes never crash it.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <random>

#include "mrv/core/gzip.hpp"
#include "mrv/evidence/tar_gz.hpp"
#include "test_support.hpp"

using namespace mrv;
using namespace mrv::evidence;

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

namespace {
// One ustar entry as the agent writes it, or with another type flag or magic.
std::string tar_entry(const std::string& name, const std::string& data, char type = '0',
                      const char* magic = "ustar\0" "00") {
  std::string h(512, '\0');
  name.copy(h.data(), name.size());
  std::snprintf(h.data() + 100, 8, "%07o", 0644);
  std::snprintf(h.data() + 124, 12, "%011o", static_cast<unsigned>(data.size()));
  h[156] = type;
  std::memcpy(h.data() + 257, magic, 8);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  return h + data + std::string((512 - data.size() % 512) % 512, '\0');
}

std::string gzipped(const std::string& tar) {
  std::string out;
  REQUIRE(gzip_compress(tar, 6, out));
  return out;
}

const std::string kEnd(1024, '\0');
}  // namespace

TEST_CASE("tar.gz: anything after the gzip member's trailer is refused, zeros and a second member too", "[bundle]") {
  test::TempDir dir;
  std::string genuine = gzipped(tar_entry("records.ndjson", "genuine\n") + kEnd);
  test::write_text(dir / "ok.tar.gz", genuine);
  REQUIRE(read_all(dir / "ok.tar.gz"));
  for (const std::string& tail : {std::string(32, '\x07'), std::string(32, '\0'),
                                  gzipped(tar_entry("records.ndjson", "edited\n") + kEnd)}) {
    test::write_text(dir / "t.tar.gz", genuine + tail);
    auto r = read_all(dir / "t.tar.gz");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("bytes after the end of the gzip stream") != std::string::npos);
  }
}

TEST_CASE("tar.gz: the end blocks are two zero blocks with only zeros after them", "[bundle]") {
  test::TempDir dir;
  std::string entry = tar_entry("a", "x");
  for (auto [tar, ok] : {std::pair{entry + kEnd + std::string(9216, '\0'), true},  // padded to a record
                         std::pair{entry + std::string(512, '\0'), false},        // a lone zero block
                         std::pair{entry + kEnd + tar_entry("b", "y") + kEnd, false}}) {
    test::write_text(dir / "t.tar.gz", gzipped(tar));
    CHECK(bool(read_all(dir / "t.tar.gz")) == ok);
  }
}

TEST_CASE("tar.gz: pax and GNU headers are reported by type, a GNU magic is refused", "[bundle]") {
  test::TempDir dir;
  for (char type : {'x', 'g', 'L', 'K', '5'}) {
    test::write_text(dir / "t.tar.gz", gzipped(tar_entry("h", "23 path=records.ndjson\n", type) + kEnd));
    auto r = TarGzReader::open(dir / "t.tar.gz");
    REQUIRE(r);
    auto e = r->next();
    REQUIRE(e);
    REQUIRE(*e);
    CHECK((*e)->type == type);
    CHECK_FALSE((*e)->regular());
  }
  test::write_text(dir / "g.tar.gz", gzipped(tar_entry("a", "x", '0', "ustar  \0") + kEnd));
  auto r = read_all(dir / "g.tar.gz");
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("not a POSIX ustar header") != std::string::npos);
}
