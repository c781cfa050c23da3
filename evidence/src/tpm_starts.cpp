#include "mrv/evidence/tpm_starts.hpp"

#include <nlohmann/json.hpp>

#include "mrv/core/crypto.hpp"
#include "mrv/core/text_limits.hpp"
#include "mrv/evidence/tpm_statement.hpp"

namespace mrv::evidence {
namespace {

using json = nlohmann::json;

bool is_hex64(const json& v) {
  if (!v.is_string()) return false;
  const std::string& s = v.get_ref<const std::string&>();
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A base64 member of at most `max` decoded bytes, or "" with `why` set.
std::string bytes_of(const json& e, const char* name, size_t max, std::string& why) {
  auto it = e.find(name);
  if (it == e.end() || !it->is_string() || it->get_ref<const std::string&>().size() > (max + 2) / 3 * 4) {
    why = std::string(name) + " is missing, not a string or too long";
    return {};
  }
  auto bytes = from_base64(it->get<std::string>());
  if (!bytes || bytes->size() > max) {
    why = std::string(name) + " is not base64 of at most " + std::to_string(max) + " bytes";
    return {};
  }
  return *bytes;
}

// One entry; "" when it verifies.
std::string check_entry(const json& e, const std::map<std::string, TpmStartKey>& keys, std::string& index_name,
                        std::string& ek_certificate) {
  if (!e.is_object()) return "not an object";
  for (const char* n : {"counter", "head_seq"})
    if (!e.contains(n) || !e[n].is_number_unsigned()) return std::string(n) + " is not an unsigned integer";
  if (!e.contains("head_hash") || !is_hex64(e["head_hash"])) return "head_hash is not 64 lowercase hex digits";
  if (!e.contains("key_id") || !is_hex64(e["key_id"])) return "key_id is not 64 lowercase hex digits";
  auto key = keys.find(e["key_id"].get<std::string>());
  if (key == keys.end()) return "key " + e["key_id"].get<std::string>() + " has no verified TPM statement in keys.json";
  if (!ek_certificate.empty() && key->second.ek_certificate != ek_certificate)
    return "another TPM (EK certificate) than the first start's";
  ek_certificate = key->second.ek_certificate;
  std::string why;
  std::string nv_public = bytes_of(e, "nv_public", 256, why);
  std::string info = why.empty() ? bytes_of(e, "certify_info", kMaxTpmAttest, why) : "";
  std::string sig = why.empty() ? bytes_of(e, "certify_signature", kMaxTpmSignature, why) : "";
  if (!why.empty()) return why;
  if (!ak_signed(key->second.ak_public, info, sig))
    return "certify_signature does not verify with the statement's ak_public";
  auto attest = parse_tpms_attest_nv(info);
  if (!attest) return "certify_info: " + attest.error().message;
  auto nv = parse_tpms_nv_public(nv_public);
  if (!nv) return "nv_public: " + nv.error().message;
  if (nv->name != attest->index_name) return "certify_info certifies another NV index than nv_public";
  if (!nv->is_counter() || nv->data_size != 8) return "the NV index is not an 8-byte counter";
  if (!index_name.empty() && nv->name != index_name) return "not the NV index of the first start";
  index_name = nv->name;
  if (attest->offset != 0 || attest->contents.size() != 8) return "certify_info is not of the counter's 8 bytes";
  uint64_t value = 0;
  for (char c : attest->contents) value = (value << 8) | static_cast<uint8_t>(c);
  if (value != e["counter"].get<uint64_t>()) return "counter is not the value certify_info holds";
  if (to_hex(attest->extra_data) != e["head_hash"].get<std::string>())
    return "head_hash is not the qualifying data of certify_info";
  return "";
}

}  // namespace

TpmStartsCheck check_tpm_starts(std::string_view json_text, const std::map<std::string, TpmStartKey>& keys) {
  TpmStartsCheck out;
  json list = check_json_limits(json_text) ? json::parse(json_text, nullptr, false) : json(json::value_t::discarded);
  if (list.is_discarded()) {
    out.problem = "tpm_starts.json is not JSON within the limits of §6.1";
    return out;
  }
  if (!list.is_array() || list.empty()) {
    out.problem = "tpm_starts.json is not a non-empty array";
    return out;
  }
  if (list.size() > kMaxTpmStarts) {
    out.problem = "tpm_starts.json has more than " + std::to_string(kMaxTpmStarts) + " entries";
    return out;
  }
  std::string index_name, ek_certificate;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& e = list[i];
    std::string why = check_entry(e, keys, index_name, ek_certificate);
    if (why.empty() && !out.counters.empty() && e["counter"].get<uint64_t>() <= out.counters.back())
      why = "counter does not increase";
    if (why.empty() && !out.heads.empty() && e["head_seq"].get<uint64_t>() < out.heads.back().first)
      why = "head_seq goes back";
    if (why.empty() && !out.heads.empty() && e["head_seq"].get<uint64_t>() == out.heads.back().first &&
        e["head_hash"].get<std::string>() != out.heads.back().second)
      why = "head_hash differs from the start before at the same head_seq";
    if (!why.empty()) {
      out.problem = "start " + std::to_string(i + 1) + ": " + why;
      return out;
    }
    out.counters.push_back(e["counter"].get<uint64_t>());
    out.heads.emplace_back(e["head_seq"].get<uint64_t>(), e["head_hash"].get<std::string>());
  }
  return out;
}

std::string TpmStartsCheck::describe() const {
  if (!problem.empty()) return "claimed but unverifiable (" + problem + ")";
  std::string text = "verified (" + std::to_string(counters.size()) + (counters.size() == 1 ? " start" : " starts") +
                     ", counter " +
                     std::to_string(counters.front()) + ".." + std::to_string(counters.back());
  uint64_t missing = 0;
  std::string where;
  for (size_t i = 1; i < counters.size(); ++i)
    if (counters[i] != counters[i - 1] + 1) {
      missing += counters[i] - counters[i - 1] - 1;
      if (where.empty())
        where = "first after " + std::to_string(counters[i - 1]) + ", next " + std::to_string(counters[i]);
    }
  if (missing == 0) return text + ", each start the next)";
  return text + "; " + std::to_string(missing) + (missing == 1 ? " start is" : " starts are") +
         " not in this journal (" + where + "): a journal restored from an old copy, or starts that did not commit)";
}

}  // namespace mrv::evidence
