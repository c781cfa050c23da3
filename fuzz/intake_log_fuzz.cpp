// An MQTT source's intake log segment (collector/intake_log, docs/mqtt.md) as a crash or
// a power loss may leave it: any bytes. Invariants: parsing never reads past the input,
// stops at an offset inside it, and yields entries whose topic and payload lie inside
// the segment; every entry it yields is written back identically by IntakeLog::append
// (the parse is the inverse of the writer).
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "mrv/collector/intake_log.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = mrv::fuzz::as_text(data, size);
  struct Seen {
    int64_t recv_ms;
    std::string topic, payload;
  };
  std::vector<Seen> seen;
  size_t end = mrv::collector::parse_intake_segment(bytes, [&](const mrv::collector::IntakeEntry& e) {
    MRV_FUZZ_CHECK(e.topic.data() >= bytes.data() && e.payload.data() + e.payload.size() <= bytes.data() + bytes.size());
    MRV_FUZZ_CHECK(e.topic.size() <= mrv::collector::kIntakeMaxTopic);
    seen.push_back({e.recv_ms, std::string(e.topic), std::string(e.payload)});
  });
  MRV_FUZZ_CHECK(end <= size);
  if (seen.empty()) return 0;
  // Written again, the entries parse back the same, and fill the whole file.
  auto dir = mrv::fuzz::scratch_dir() / "intake";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  {
    mrv::collector::IntakeLog log(dir, false);
    for (const Seen& s : seen) MRV_FUZZ_CHECK(log.append(s.recv_ms, s.topic, s.payload).has_value());
  }
  std::vector<Seen> again;
  mrv::collector::IntakeLog reread(dir, false);
  auto replayed = reread.replay([&](const mrv::collector::IntakeEntry& e) {
    again.push_back({e.recv_ms, std::string(e.topic), std::string(e.payload)});
    return mrv::collector::IntakeLog::Ticket{0};
  });
  MRV_FUZZ_CHECK(replayed.has_value() && replayed->torn.empty() && again.size() == seen.size());
  for (size_t i = 0; i < seen.size(); ++i)
    MRV_FUZZ_CHECK(again[i].recv_ms == seen[i].recv_ms && again[i].topic == seen[i].topic &&
                   again[i].payload == seen[i].payload);
  return 0;
}
