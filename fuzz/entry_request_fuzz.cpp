// The control socket's request (agent/src/entry_request): one JSON line a client of the
// socket sends, read as a site record, rebuilt with the site-record rules and checked
// against a config, as the agent does. What it accepts always becomes a record the
// journal can store and every verifier reads back: its canonical bytes decode, and the
// details decode to what was entered.
#include "entry_request.hpp"
#include "fuzz_support.hpp"
#include "mrv/core/canonical.hpp"

namespace {

const mrv::Config& config() {
  static const mrv::Config c = [] {
    auto parsed = mrv::parse_config(R"(
[site]
id = "fuzz-site"
[journal]
path = "/nonexistent/journal.db"
[signing]
key_file = "/nonexistent/agent.key"
[[points]]
id = "m1.energy_kwh"
unit = "kWh"
kind = "cumulative"
meter_serial = "EXP-0001"
accuracy_class = "0.5S"
[[points]]
id = "m2.power_kw"
unit = "kW"
meter_serial = "EXP-0002"
)",
                                    "/fuzz/agent.toml", /*check_files=*/false);
    if (!parsed) std::abort();
    return std::move(*parsed);
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line = mrv::fuzz::as_text(data, size);
  auto entry = mrv::agent::accept_entry(line, config(), "fuzz", 1'817'866'800'000);
  if (!entry) return 0;
  mrv::RecordFields f;
  f.type = mrv::RecordType::site_record;
  f.site_id = "fuzz-site";
  f.seq = 1;
  f.prev_hash_hex = std::string(mrv::kGenesisPrevHash);
  f.reading = entry->reading;
  f.boot_id = "boot";
  f.config_hash_hex = std::string(64, 'a');
  f.key_id_hex = std::string(64, 'b');
  f.algorithm = "ed25519";
  std::string bytes;
  MRV_FUZZ_CHECK(mrv::encode_record(f, bytes));
  auto decoded = mrv::decode_record(bytes);
  MRV_FUZZ_CHECK(decoded);
  auto site = mrv::parse_site_record(*decoded);
  MRV_FUZZ_CHECK(site);
  MRV_FUZZ_CHECK(site->details == entry->record.details);
  MRV_FUZZ_CHECK(site->login == "fuzz");
  // The request the CLI would send for it is accepted the same.
  auto again = mrv::agent::accept_entry(mrv::agent::entry_request_line(entry->record), config(), "fuzz",
                                        1'817'866'800'000);
  MRV_FUZZ_CHECK(again && again->reading.reason == entry->reading.reason);
  return 0;
}
