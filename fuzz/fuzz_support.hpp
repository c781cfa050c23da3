#pragma once
// What the fuzz targets share: a private scratch folder (for the parsers that read files)
// and a check that fails loudly, so libFuzzer records the input.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "mrv/core/crypto.hpp"

namespace mrv::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A folder of this process, removed at exit (a fuzz run forks workers: one each).
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("mrv-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return d;
  }();
  return dir;
}

inline std::filesystem::path write_scratch(const std::string& name, std::string_view bytes) {
  auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// The public key of fuzz/keys/seed-ed25519.key, which signed the seeds' records and
// checkpoints, so that inputs near a seed reach the checks after the signature.
inline PublicKey seed_public_key() {
  auto key = PublicKey::load(MRV_FUZZ_DIR "/keys/seed-ed25519.pub");
  if (!key) {
    std::fprintf(stderr, "fuzz: %s\n", key.error().to_string().c_str());
    std::abort();
  }
  return std::move(*key);
}

// An invariant of the code under test; a violation aborts so the input is kept.
#define MRV_FUZZ_CHECK(condition)                                                       \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

}  // namespace mrv::fuzz
