#include "tpm_start_counter.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "mrv/core/clock.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/log.hpp"
#include "mrv/core/time_text.hpp"
#include "tpm_statement_maker.hpp"
#include "tpm_tools.hpp"

namespace mrv::agent {
namespace {

using json = nlohmann::json;

std::string hex_index(uint32_t index) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", index);
  return text;
}

// A TPMS_NV_PUBLIC from tpm2_nvreadpublic's YAML: the index, SHA-256 names, the attributes
// it reports, no policy, 8 bytes. Its hash must give the name the TPM reports.
Result<std::string> nv_public_of(const std::string& yaml, uint32_t index) {
  auto after = [&](const std::string& key, size_t from) -> std::string {
    size_t at = yaml.find(key, from);
    if (at == std::string::npos) return {};
    size_t end = yaml.find('\n', at);
    return yaml.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
  };
  const std::string name = after("name: ", 0);
  const size_t attributes_at = yaml.find("attributes:");
  const std::string value = attributes_at == std::string::npos ? "" : after("value: ", attributes_at);
  uint32_t attributes = static_cast<uint32_t>(std::strtoul(value.c_str(), nullptr, 16));
  std::string bytes;
  for (uint32_t v : {index >> 24, index >> 16, index >> 8, index}) bytes.push_back(static_cast<char>(v & 0xff));
  bytes += std::string("\x00\x0b", 2);
  for (uint32_t v : {attributes >> 24, attributes >> 16, attributes >> 8, attributes})
    bytes.push_back(static_cast<char>(v & 0xff));
  bytes += std::string("\x00\x00\x00\x08", 4);  // authPolicy: none; dataSize: 8
  if ("000b" + to_hex(sha256(bytes)) != name)
    return fail(ErrorCode::crypto, hex_index(index),
                "the NV index is not an 8-byte SHA-256 index without a policy (its name " + name +
                    " is not that of the attributes " + value + ")");
  return bytes;
}

}  // namespace

Result<TpmStart> certify_start(const StartCounterRequest& request) {
  TpmTools t(request.tcti);
  const std::string index = hex_index(request.nv_index);
  if (auto r = t.write("head.bin", request.head_hash); !r) return tl::unexpected(r.error());
  if (auto r = load_kept_ak(t, request.key_file); !r) return tl::unexpected(r.error());
  // Defined once, by the agent: a counter's first value is the highest any counter of
  // this TPM ever held, so a counter removed and defined again does not go back.
  if (auto r = t.run({"tpm2_getcap", "handles-nv-index"}); !r) return tl::unexpected(r.error());
  char listed[24];
  std::snprintf(listed, sizeof listed, "- 0x%X\n", request.nv_index);
  if (t.read("stderr.txt").find(listed) == std::string::npos)
    if (auto r = t.step({"tpm2_nvdefine", index, "-C", "o", "-s", "8", "-a", "nt=counter|authread|authwrite|no_da"}); !r)
      return fail(ErrorCode::crypto, "tpm2_nvdefine", "cannot define the start counter " + index + ": " +
                                                          r.error().message);
  for (auto argv : std::vector<std::vector<std::string>>{
           {"tpm2_nvincrement", "-C", index, index},
           {"tpm2_nvcertify", "-C", "ak.ctx", "-g", "sha256", "-f", "plain", "-o", "sig.bin", "--attestation",
            "attest.bin", "-q", "head.bin", "--size", "8", "--offset", "0", "-c", index, index}})
    if (auto r = t.step(argv); !r) return tl::unexpected(r.error());
  if (auto r = t.run({"tpm2_nvreadpublic", index}); !r) return tl::unexpected(r.error());
  auto nv_public = nv_public_of(t.read("stderr.txt"), request.nv_index);
  if (!nv_public) return tl::unexpected(nv_public.error());
  // The value certified: the attestation's last 8 bytes (nvContents of 8 bytes, offset 0).
  const std::string attest = t.read("attest.bin");
  if (attest.size() < 8) return fail(ErrorCode::crypto, "tpm2_nvcertify", "no attestation written");
  uint64_t counter = 0;
  for (size_t i = attest.size() - 8; i < attest.size(); ++i) counter = (counter << 8) | static_cast<uint8_t>(attest[i]);
  json entry = {{"key_id", request.key_id_hex},
                {"counter", counter},
                {"head_seq", request.head_seq},
                {"head_hash", to_hex(request.head_hash)},
                {"started_at", format_utc_ms(utc_now_ms())},
                {"nv_public", to_base64(*nv_public)},
                {"certify_info", to_base64(attest)},
                {"certify_signature", to_base64(t.read("sig.bin"))}};
  return TpmStart{counter, request.head_seq, entry.dump()};
}

std::optional<TpmStart> start_on_tpm_counter(const Config& config) {
  StartCounterRequest request;
  request.key_file = config.signing.key_file;
  request.tcti = config.signing.tpm_tcti;
  request.nv_index = config.signing.tpm_counter_index;
  {
    auto signer = Signer::load(config.signing.key_file, config.signing.tpm_tcti);
    if (!signer) return std::nullopt;  // run says why when it loads the key
    request.key_id_hex = signer->key_id_hex();
  }
  release_tpm();
  const std::string index = hex_index(config.signing.tpm_counter_index);
  auto unbound = [&](const Error& e) {
    log::warning("this start is not bound to the TPM's counter " + index + ": " + e.to_string());
    return std::nullopt;
  };
  // A counter value is spent only on a start that will open this journal: not while
  // another agent writes it (run then refuses), nor on a head that could not be read.
  if (auto running = Journal::writer_running(config.journal.path); !running || *running) return std::nullopt;
  std::optional<uint64_t> last_counter;
  request.head_hash = std::string(32, '\0');  // an empty journal: the genesis prev
  if (auto journal = Journal::open_read_only(config.journal.path)) {
    auto hash = from_hex(journal->last_hash_hex());
    auto last = journal->last_tpm_counter();
    if (!hash || !last) return unbound(!hash ? hash.error() : last.error());
    request.head_seq = journal->last_seq();
    request.head_hash = *hash;
    last_counter = *last;
  } else if (journal.error().code != ErrorCode::not_found) {
    return unbound(journal.error());
  }
  auto start = certify_start(request);
  if (!start) return unbound(start.error());
  log::info("start bound to the TPM's counter " + index + " at " + std::to_string(start->counter) +
            " (journal head seq " + std::to_string(start->head_seq) + ")");
  if (last_counter && start->counter != *last_counter + 1) {
    const uint64_t missing = start->counter - *last_counter - 1;
    if (start->counter > *last_counter)
      log::error("the TPM's start counter went from " + std::to_string(*last_counter) +
                 " (the journal's last start) to " + std::to_string(start->counter) + ": " + std::to_string(missing) +
                 (missing == 1 ? " start is" : " starts are") +
                 " not in this journal (a journal restored from an old copy, or starts that did not commit)");
    else
      log::error("the TPM's start counter " + std::to_string(start->counter) + " is not above the journal's last start " +
                 std::to_string(*last_counter) + ": this journal's starts were counted by another TPM or index");
  }
  return std::move(*start);
}

}  // namespace mrv::agent
