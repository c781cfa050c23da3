#include "bundle_cosignatures.hpp"

#include "mrv/core/time_text.hpp"

namespace mrv::evidence {

Result<std::vector<Cosignature>> read_cosignatures(const nlohmann::json& entry) {
  std::vector<Cosignature> out;
  if (!entry.contains("cosignatures")) return out;
  const nlohmann::json& list = entry["cosignatures"];
  if (!list.is_array() || list.size() > kMaxCosignaturesPerCheckpoint)
    return fail(ErrorCode::invalid_argument, "cosignatures", "not a list of at most 16 signature lines");
  for (const nlohmann::json& line : list) {
    if (!line.is_string()) return fail(ErrorCode::invalid_argument, "cosignatures", "a cosignature is not a string");
    auto c = parse_cosignature(line.get<std::string>());
    if (!c) return tl::unexpected(c.error());
    out.push_back(std::move(*c));
  }
  return out;
}

std::optional<RegistryCosignature> registry_cosignature(std::span<const Cosignature> cosignatures,
                                                        std::string_view note, std::span<const PublicKey> registry_keys,
                                                        std::optional<std::string>& bad) {
  std::optional<RegistryCosignature> found;
  for (const Cosignature& c : cosignatures)
    for (const PublicKey& key : registry_keys) {
      CosignatureCheck check = check_cosignature(c, key, note);
      if (check == CosignatureCheck::verified && !found) found = RegistryCosignature{c, key.key_id_hex()};
      if (check == CosignatureCheck::bad && !bad) bad = "the cosignature of " + c.name + " does not verify";
    }
  return found;
}

std::string describe_cosignature(const RegistryCosignature& r) {
  constexpr uint64_t kYear9999End = 253'402'300'799;  // beyond, RFC 3339 has no form for it
  const Cosignature& c = r.cosignature;
  std::string who = "registry key " + r.key_id_hex + " (" + c.name + ")";
  if (c.time_s > kYear9999End) return who + " at POSIX time " + std::to_string(c.time_s);
  return who + " at " + format_utc_ms(static_cast<int64_t>(c.time_s) * 1000);
}

}  // namespace mrv::evidence
