// Verifier bundles (docs/verification.md §4) as `verify` reads them, past the archive:
// manifest, keys, configs, record lines, checkpoints, proofs, gaps, quarantine and
// report entries. A raw .tar.gz would keep the fuzzer in the gzip checksum
// (tar_gz_fuzz covers that layer), so the input is the bundle's entries: each starts
// with "\x1e" and its name on one line, then its bytes. They are written, in the order
// given, as a well-formed .tar.gz and verified with the seed key pinned.
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_support.hpp"
#include "mrv/evidence/bundle.hpp"
#include "mrv/evidence/export_file.hpp"
#include "mrv/evidence/tar_gz.hpp"

namespace {

struct Entry {
  std::string name;
  std::string_view bytes;
};

std::vector<Entry> split_entries(std::string_view input) {
  std::vector<Entry> entries;
  size_t at = input.find('\x1e');
  while (at != std::string_view::npos && entries.size() < 32) {
    size_t next = input.find('\x1e', at + 1);
    std::string_view chunk = input.substr(at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1);
    size_t newline = chunk.find('\n');
    if (newline != std::string_view::npos) entries.push_back({std::string(chunk.substr(0, newline)), chunk.substr(newline + 1)});
    at = next;
  }
  return entries;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const mrv::PublicKey key = mrv::fuzz::seed_public_key();
  auto path = mrv::fuzz::scratch_dir() / "bundle.tar.gz";
  {
    auto writer = mrv::evidence::TarGzWriter::create(path, 1'767'225'600);
    if (!writer) return 0;
    for (const auto& e : split_entries(mrv::fuzz::as_text(data, size)))
      if (!writer->add(e.name, e.bytes)) return 0;  // a name no ustar header holds
    if (!writer->close()) return 0;
  }
  auto verdict = mrv::evidence::verify_bundle(path, std::span<const mrv::PublicKey>(&key, 1), std::nullopt);
  int code = verdict.exit_code();
  MRV_FUZZ_CHECK(code == 0 || code == 1 || code == 3 || code == 4);  // docs/verification.md §6
  // The verdict quotes the bundle's strings: its JSON stays JSON whatever they hold.
  MRV_FUZZ_CHECK(nlohmann::json::accept(verdict.to_json()));
  return 0;
}
