#pragma once
// Shared helpers for unit tests: a temporary folder and the test keys of tests/vectors.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "mrv/core/config.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"

namespace mrv::test {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("mrv-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_text(const std::filesystem::path& p, const std::string& text, mode_t mode = 0600) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  ::chmod(p.c_str(), mode);
}

// A copy of a test key from tests/vectors with mode 0600 (git keeps no modes).
inline Signer test_signer(const TempDir& dir, const std::string& name = "ed25519-test.key") {
  auto copy = dir / name;
  if (!std::filesystem::exists(copy))
    write_text(copy, read_text(std::filesystem::path(MRV_TEST_VECTORS) / name));
  auto s = Signer::load(copy);
  if (!s) throw std::runtime_error(s.error().to_string());
  return std::move(*s);
}

inline JournalOptions journal_options(const TempDir& dir) {
  JournalOptions o;
  o.path = dir / "journal.db";
  o.site_id = "test-site";
  o.config_hash_hex = std::string(64, 'c');
  o.config_text = "[site]\nid = \"test-site\"\n";
  o.boot_id = "boot-1";
  return o;
}

inline Reading reading(const std::string& point, int64_t ts_ms, const std::string& value) {
  Reading r;
  r.point_id = point;
  r.value = value;
  r.unit = "kWh";
  r.ts_ms = ts_ms;
  r.source = "test:" + point;
  return r;
}

inline AcceptedReading accepted(const std::string& point, int64_t ts_ms, const std::string& value) {
  return AcceptedReading{reading(point, ts_ms, value), ClockSample{ts_ms + 5, 1000, ClockSync::synchronised}};
}

// Every error parse_config reports for `text`, as "file:line: key.path: message".
inline std::vector<std::string> config_errors(const std::string& text) {
  auto c = parse_config(text, "/cfg/site.toml");
  std::vector<std::string> out;
  if (!c)
    for (const auto& e : c.error()) out.push_back(e.to_string());
  return out;
}

}  // namespace mrv::test
