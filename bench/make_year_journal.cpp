// make_year_journal: a journal for the report benchmark (bench/report_bench.sh, issue 7).
//
//   make_year_journal OUT_DIR [--points 20] [--minutes 525600]
//
// A solar site of POINTS/2 meters, each with a cumulative export register (kWh) and a
// power gauge (kW), one reading of every point a minute from 2025-01-01T00:00Z: POINTS ×
// MINUTES records (20 × 525,600 = 10,512,000 for the year). Written straight through
// Journal::append in batches of 4,096 in checkpoint-only mode (records hashed, chained and
// in the Merkle tree; only checkpoints signed), then one checkpoint covering everything.
// Also writes OUT_DIR/site.toml (the agent config the records name, with a [monitoring]
// section and the period "2025"), OUT_DIR/site.key and, last, OUT_DIR/generated.txt.
#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/journal.hpp"

namespace fs = std::filesystem;
using namespace mrv;

namespace {

constexpr int64_t kStartMs = 1'735'689'600'000;  // 2025-01-01T00:00:00Z
constexpr int64_t kMinuteMs = 60'000;
constexpr double kPi = 3.14159265358979323846;

[[noreturn]] void die(const std::string& message) {
  std::cerr << "make_year_journal: " << message << "\n";
  std::exit(1);
}

std::string meter_name(int m) {
  char b[16];
  std::snprintf(b, sizeof b, "m%02d", m + 1);
  return b;
}

std::string site_config(int meters) {
  std::ostringstream s;
  s << "# Written by bench/make_year_journal: a " << meters << "-meter solar site, every point at 1 min.\n"
    << "[site]\nid = \"bench-year-site\"\nname = \"Report benchmark site\"\n"
    << "[journal]\npath = \"journal.db\"\nsynchronous = \"normal\"\nquota_mb = 1000000\n"
    << "[signing]\nkey_file = \"site.key\"\nmode = \"checkpoint\"\n";
  for (int m = 0; m < meters; ++m) {
    std::string id = meter_name(m);
    s << "[[points]]\nid = \"" << id << ".export_kwh\"\nunit = \"kWh\"\nkind = \"cumulative\"\ninterval_ms = 60000\n"
      << "meter_serial = \"BENCH-" << id << "\"\naccuracy_class = \"0.5S\"\ncalibration_valid_until = 2027-06-30\n"
      << "[[points]]\nid = \"" << id << ".power_kw\"\nunit = \"kW\"\nkind = \"gauge\"\ninterval_ms = 60000\n"
      << "meter_serial = \"BENCH-" << id << "\"\naccuracy_class = \"0.5S\"\ncalibration_valid_until = 2027-06-30\n";
  }
  auto list = [&](const char* suffix) {
    std::string out = "[";
    for (int m = 0; m < meters; ++m) out += (m ? ", \"" : "\"") + meter_name(m) + suffix + "\"";
    return out + "]";
  };
  s << "[monitoring]\nmethodology = \"MN_AM003\"\nversion = \"1.0\"\nallow_interpolation = false\n"
    << "reference_number = \"MN-BENCH\"\ntitle = \"Benchmark: 20 meters, a year at one reading a minute\"\n"
    << "[[monitoring.parameters]]\nid = \"EG_p\"\ndescription = \"Electricity delivered to the grid (export registers)\"\n"
    << "unit = \"MWh\"\naggregation = \"counter\"\nmonitoring_point = \"(1)\"\npoints = " << list(".export_kwh") << "\n"
    << "[[monitoring.parameters]]\nid = \"EG_int\"\ndescription = \"Electricity by the power gauges' time integral\"\n"
    << "unit = \"MWh\"\naggregation = \"integral\"\nmonitoring_point = \"(2)\"\npoints = " << list(".power_kw") << "\n"
    << "[[monitoring.parameters]]\nid = \"P_mean\"\ndescription = \"Mean power of meter 1\"\nunit = \"kW\"\n"
    << "aggregation = \"mean\"\nmonitoring_point = \"(3)\"\npoint = \"m01.power_kw\"\n"
    << "[[monitoring.parameters]]\nid = \"EF_grid\"\nunit = \"tCO2/MWh\"\naggregation = \"fixed\"\nvalue = 0.797\n"
    << "source = \"Mongolia national grid emission factor (JCM)\"\nmonitoring_option = \"A\"\n"
    << "[[monitoring.formulas]]\nid = \"RE_p\"\nexpression = \"EG_p * EF_grid\"\nunit = \"tCO2\"\n"
    << "[[monitoring.formulas]]\nid = \"PE_p\"\nexpression = \"0\"\nunit = \"tCO2\"\n"
    << "[[monitoring.formulas]]\nid = \"ER_p\"\nexpression = \"RE_p - PE_p\"\nunit = \"tCO2\"\n"
    << "[[monitoring.periods]]\nname = \"2025\"\nstart = 2025-01-01T00:00:00Z\nend = 2026-01-01T00:00:00Z\n";
  return s.str();
}

// A deterministic number in [0, 1) from two integers (splitmix64).
double noise(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9E3779B97F4A7C15ull + b + 0x632BE59BD9B4E5B9ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / 9007199254740992.0;
}

// PV output in kW of meter m at minute i: zero at night, a sine over the day whose length
// follows the season, scaled by a per-day cloud factor and a little per-minute noise.
double power_kw(int m, int64_t i) {
  int64_t day = i / 1440;
  double hour = static_cast<double>(i % 1440) / 60.0;
  double day_length = 12.0 + 4.0 * std::cos(2 * kPi * static_cast<double>(day - 171) / 365.0);
  double sunrise = 12.0 - day_length / 2;
  if (hour <= sunrise || hour >= sunrise + day_length) return 0.0;
  double peak = 400.0 + 20.0 * m;
  double season = 0.75 + 0.25 * std::cos(2 * kPi * static_cast<double>(day - 171) / 365.0);
  double clouds = 0.35 + 0.65 * noise(static_cast<uint64_t>(m), static_cast<uint64_t>(day));
  double jitter = 0.95 + 0.1 * noise(static_cast<uint64_t>(m) + 1000, static_cast<uint64_t>(i));
  return peak * season * clouds * jitter * std::sin(kPi * (hour - sunrise) / day_length);
}

std::string fixed3(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: make_year_journal OUT_DIR [--points 20] [--minutes 525600]");
  fs::path dir = argv[1];
  long points = 20, minutes = 525'600;
  for (int a = 2; a < argc; ++a) {
    std::string arg = argv[a];
    if ((arg == "--points" || arg == "--minutes") && a + 1 < argc)
      (arg == "--points" ? points : minutes) = std::strtol(argv[++a], nullptr, 10);
    else
      die("unknown argument " + arg);
  }
  if (points < 2 || points % 2 != 0) die("--points must be even (a register and a gauge per meter)");
  if (minutes < 1) die("--minutes must be positive");
  const int meters = static_cast<int>(points / 2);
  fs::create_directories(dir);
  if (fs::exists(dir / "journal.db")) die((dir / "journal.db").string() + " exists: remove the folder's journal first");

  // The config the records name: its exact bytes are hashed and stored in the journal.
  const std::string text = site_config(meters);
  {
    std::ofstream out(dir / "site.toml", std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) die("cannot write site.toml");
  }
  auto config = parse_config(text, dir / "site.toml");
  if (!config) die("site.toml does not parse: " + config.error().front().to_string());

  fs::path key_file = dir / "site.key";
  if (!fs::exists(key_file)) {
    auto generated = Signer::generate(Algorithm::ed25519);
    if (!generated) die(generated.error().to_string());
    if (auto saved = generated->save(key_file); !saved) die(saved.error().to_string());
  }
  auto signer = Signer::load(key_file);
  if (!signer) die(signer.error().to_string());

  JournalOptions options;
  options.path = config->journal.path;
  options.synchronous = Synchronous::normal;
  options.quota_bytes = config->journal.quota_bytes;
  options.site_id = config->site_id;
  options.config_hash_hex = config->hash_hex;
  options.config_text = text;
  options.boot_id = "bench-boot-1";
  options.checkpoint_only = config->signing.checkpoint_only;
  options.checkpoint_interval_ms = config->signing.checkpoint_interval_ms;
  auto opened = Journal::open_for_writing(options, std::move(*signer));
  if (!opened) die(opened.error().to_string());
  std::optional<Journal> journal(std::move(*opened));

  const uint64_t total = static_cast<uint64_t>(points) * static_cast<uint64_t>(minutes);
  std::cout << "writing " << total << " records (" << points << " points x " << minutes << " minutes from "
            << "2025-01-01T00:00Z) to " << options.path.string() << ", signing mode: "
            << (options.checkpoint_only ? "checkpoint-only (records hashed and chained; checkpoints signed)"
                                        : "every record signed")
            << std::endl;

  std::vector<double> registers(static_cast<size_t>(meters));
  for (int m = 0; m < meters; ++m) registers[static_cast<size_t>(m)] = 100'000.0 + 12'345.0 * m;
  std::vector<std::string> export_ids, power_ids, sources;
  for (int m = 0; m < meters; ++m) {
    export_ids.push_back(meter_name(m) + ".export_kwh");
    power_ids.push_back(meter_name(m) + ".power_kw");
    sources.push_back("sim:bench/" + meter_name(m));
  }

  constexpr size_t kBatch = 4096;
  std::vector<AcceptedReading> batch;
  batch.reserve(kBatch + static_cast<size_t>(points));
  uint64_t written = 0, next_report = 1'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  auto flush = [&] {
    if (batch.empty()) return;
    auto r = journal->append(batch);
    if (!r) die(r.error().to_string());
    if (r->duplicates) die("unexpected duplicates in a batch");
    written += r->stored;
    batch.clear();
    if (written >= next_report || written == total) {
      double s = seconds_since(t0);
      std::fprintf(stdout, "  %10llu records  %5.1f%%  %7.1f s  %9.0f records/s\n",
                   static_cast<unsigned long long>(written), 100.0 * static_cast<double>(written) / static_cast<double>(total),
                   s, static_cast<double>(written) / s);
      std::fflush(stdout);
      while (next_report <= written) next_report += 1'000'000;
    }
  };
  auto add = [&](const std::string& point, const char* unit, int64_t ts, std::string value, const std::string& source,
                 int64_t i) {
    AcceptedReading a;
    a.reading.point_id = point;
    a.reading.value = std::move(value);
    a.reading.unit = unit;
    a.reading.ts_ms = ts;
    a.reading.time_source = TimeSource::device;
    a.reading.source = source;
    a.received = ClockSample{ts + 40, 10'000 + i * kMinuteMs + 40, ClockSync::synchronised};
    batch.push_back(std::move(a));
  };
  for (int64_t i = 0; i < minutes; ++i) {
    const int64_t ts = kStartMs + i * kMinuteMs;
    for (int m = 0; m < meters; ++m) {
      double p = power_kw(m, i);
      registers[static_cast<size_t>(m)] += p / 60.0;  // kWh in this minute
      add(export_ids[static_cast<size_t>(m)], "kWh", ts, fixed3(registers[static_cast<size_t>(m)]),
          sources[static_cast<size_t>(m)], i);
      add(power_ids[static_cast<size_t>(m)], "kW", ts, fixed3(p), sources[static_cast<size_t>(m)], i);
    }
    if (batch.size() >= kBatch) flush();
  }
  flush();
  const double append_s = seconds_since(t0);
  auto cp = journal->checkpoint("bench");
  if (!cp) die(cp.error().to_string());
  const double total_s = seconds_since(t0);
  if (written != total) die("wrote " + std::to_string(written) + " of " + std::to_string(total) + " records");
  double produced_mwh = 0;
  for (int m = 0; m < meters; ++m) produced_mwh += (registers[static_cast<size_t>(m)] - (100'000.0 + 12'345.0 * m)) / 1000;
  journal.reset();  // close the journal (its WAL is checkpointed) before measuring
  uintmax_t bytes = 0;
  for (const char* suffix : {"", "-wal", "-shm"})
    if (std::error_code ec; fs::exists(options.path.string() + suffix))
      bytes += fs::file_size(options.path.string() + suffix, ec);
  std::printf("done: %llu records in %.1f s (%.0f records/s; append %.1f s, final checkpoint %.2f s), %s\n",
              static_cast<unsigned long long>(written), total_s, static_cast<double>(written) / total_s, append_s,
              total_s - append_s, options.checkpoint_only ? "checkpoint-only" : "records signed");
  std::printf("journal: %.1f MiB (%.0f bytes/record); exported by the registers: %.3f MWh\n",
              static_cast<double>(bytes) / 1048576.0, static_cast<double>(bytes) / static_cast<double>(written),
              produced_mwh);
  std::ofstream(dir / "generated.txt") << "points=" << points << "\nminutes=" << minutes << "\nrecords=" << written
                                       << "\nseconds=" << total_s << "\nmode="
                                       << (options.checkpoint_only ? "checkpoint-only" : "record") << "\n";
  return 0;
}
