// TOML configs: the agent's (also carried in bundles and reports, so a verifier parses
// configs written by anyone) and the registry's. The first byte picks which.
#include "fuzz_support.hpp"
#include "mrv/core/config.hpp"
#include "mrv/registry/registry_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string text(mrv::fuzz::as_text(data + 1, size - 1));
  if (data[0] & 1) {
    auto path = mrv::fuzz::write_scratch("registry.toml", text);
    (void)mrv::registry::load_registry_config(path);
  } else {
    auto config = mrv::parse_config(text, "agent.toml", /*check_files=*/false);
    // A refusal names what is wrong and where: the file, and its line where there is one.
    if (!config) {
      MRV_FUZZ_CHECK(!config.error().empty());
      for (const auto& e : config.error()) MRV_FUZZ_CHECK(e.where.starts_with("agent.toml") && !e.message.empty());
    }
  }
  return 0;
}
