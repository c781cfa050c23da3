#pragma once
// A bundle's cosignatures (docs/verification.md §3.1, §4.3): each checkpoint entry's
// "cosignatures", checked against the registry keys a verifier pinned, and what they show.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mrv/core/cosignature.hpp"
#include "mrv/core/crypto.hpp"

namespace mrv::evidence {

inline constexpr size_t kMaxCosignaturesPerCheckpoint = 16;

// An entry's "cosignatures" (absent: none): at most 16 cosignature lines. Errors say why.
[[nodiscard]] Result<std::vector<Cosignature>> read_cosignatures(const nlohmann::json& entry);

// A cosignature that verified, and the id of the registry key it verified with (the
// name in the line is not signed: cosignature/v1 commits to the key, not to the name).
struct RegistryCosignature {
  Cosignature cosignature;
  std::string key_id_hex;
};

// The first cosignature of `note` by one of `registry_keys`, or nullopt. `bad` is set to
// the first one whose name and key ID are a registry key's but whose signature fails.
std::optional<RegistryCosignature> registry_cosignature(std::span<const Cosignature> cosignatures,
                                                        std::string_view note, std::span<const PublicKey> registry_keys,
                                                        std::optional<std::string>& bad);

// "registry key <id> (<name>) at <UTC time>", as both verifiers print it.
std::string describe_cosignature(const RegistryCosignature& c);

}  // namespace mrv::evidence
