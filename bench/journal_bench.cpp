// Journal throughput: signed and committed readings per second on one core, for both
// signature profiles, beside the raw sign rate of our signer and of `openssl speed`.
//   mrv-journal-bench [--readings N] [--dir DIR] [--journal-only | --checkpoint-only]
// Pins itself (and so the journal writer thread) to CPU 0.
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "mrv/core/clock.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/core/journal_writer.hpp"

using namespace mrv;
using Clk = std::chrono::steady_clock;

namespace {
double seconds_since(Clk::time_point t0) {
  return std::chrono::duration<double>(Clk::now() - t0).count();
}

double sign_rate(Signer& signer, const std::string& message) {
  auto t0 = Clk::now();
  int n = 0;
  while (seconds_since(t0) < 2.0) {
    for (int i = 0; i < 1000; ++i) (void)signer.sign(message);
    n += 1000;
  }
  return n / seconds_since(t0);
}

// `openssl speed` on one core: signs/s for ed25519 and ecdsa p256.
std::pair<double, double> openssl_speed() {
  double ed = 0, ec = 0;
  FILE* p = popen("openssl speed -seconds 3 ed25519 ecdsap256 2>/dev/null", "r");
  if (!p) return {0, 0};
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    double a = 0, b = 0, signs = 0, verifies = 0;
    if (std::sscanf(line, " 253 bits EdDSA (Ed25519) %lfs %lfs %lf %lf", &a, &b, &signs, &verifies) == 4)
      ed = signs;
    if (std::sscanf(line, " 256 bits ecdsa (nistp256) %lfs %lfs %lf %lf", &a, &b, &signs, &verifies) == 4)
      ec = signs;
  }
  pclose(p);
  return {ed, ec};
}

Reading make_reading(int i) {
  Reading r;
  r.point_id = "m" + std::to_string(i % 1000) + ".energy_kwh";
  r.value = std::to_string(100000 + i) + ".125";
  r.unit = "kWh";
  r.ts_ms = 1795600000000 + i;
  r.source = "modbus:gw1/unit" + std::to_string(i % 1000) + "/holding/40001";
  return r;
}

// Readings through JournalWriter::submit, as a collector hands them in, until all are
// committed. Returns readings per second.
double writer_rate(const std::filesystem::path& dir, Algorithm alg, Synchronous sync, int n,
                   bool checkpoint_only = false) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  JournalOptions o;
  o.path = dir / "journal.db";
  o.synchronous = sync;
  o.quota_bytes = 64ull << 30;
  o.site_id = "bench";
  o.config_hash_hex = std::string(64, 'c');
  o.boot_id = read_boot_id();
  o.checkpoint_only = checkpoint_only;
  if (checkpoint_only) o.checkpoint_interval_ms = 1000;
  auto journal = Journal::open_for_writing(o, std::move(*Signer::generate(alg)));
  if (!journal) {
    std::fprintf(stderr, "%s\n", journal.error().to_string().c_str());
    std::exit(1);
  }
  std::vector<Reading> readings;
  readings.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) readings.push_back(make_reading(i));
  SystemClock clock;
  JournalWriter writer(std::move(*journal),
                       WriterOptions{std::chrono::milliseconds(50), 4096, static_cast<size_t>(n)},
                       clock, [](int, const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); });
  auto t0 = Clk::now();
  JournalWriter::Ticket last = 0;
  for (auto& r : readings) last = *writer.submit(std::move(r));
  writer.wait_committed(last, std::chrono::minutes(10));
  double rate = n / seconds_since(t0);
  writer.stop();
  return rate;
}
}  // namespace

int main(int argc, char** argv) {
  int n = 200'000;
  bool journal_only = false;  // for profiling: one ed25519 journal run, nothing else
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "mrv-journal-bench";
  bool checkpoint_only = false;  // for profiling: one checkpoint-only journal run
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--journal-only") == 0) journal_only = true;
    if (std::strcmp(argv[i], "--checkpoint-only") == 0) checkpoint_only = true;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--readings") == 0) n = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "--dir") == 0) dir = argv[i + 1];
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  sched_setaffinity(0, sizeof one, &one);  // threads started later inherit it

  if (checkpoint_only) {
    std::printf("checkpoint-only journal/s: %.0f\n",
                writer_rate(dir, Algorithm::ed25519, Synchronous::full, n, true));
    return 0;
  }
  if (journal_only) {
    std::printf("ed25519 journal/s: %.0f\n", writer_rate(dir, Algorithm::ed25519, Synchronous::full, n));
    std::printf("checkpoint-only journal/s: %.0f\n",
                writer_rate(dir, Algorithm::ed25519, Synchronous::full, n, true));
    return 0;
  }
  auto [openssl_ed, openssl_ec] = openssl_speed();
  std::string sample_record(430, 'x');  // about the size of a canonical record
  std::printf("mrv-journal-bench: %d readings per run, one core, record ~430 bytes\n\n", n);
  std::printf("%-18s %14s %14s %16s %16s %8s\n", "profile", "openssl sign/s", "our sign/s",
              "journal/s full", "journal/s normal", "ratio");
  for (Algorithm alg : {Algorithm::ed25519, Algorithm::ecdsa_p256_sha256}) {
    auto signer = Signer::generate(alg);
    double ours = sign_rate(*signer, sample_record);
    double full = writer_rate(dir, alg, Synchronous::full, n);
    double normal = writer_rate(dir, alg, Synchronous::normal, n);
    double openssl = alg == Algorithm::ed25519 ? openssl_ed : openssl_ec;
    std::printf("%-18s %14.0f %14.0f %16.0f %16.0f %7.0f%%\n", std::string(to_string(alg)).c_str(),
                openssl, ours, full, normal, openssl > 0 ? 100.0 * full / openssl : 0.0);
  }
  // Checkpoint-only signing: records hashed, chained and in the tree; one signed
  // checkpoint a second.
  double cp_full = writer_rate(dir, Algorithm::ed25519, Synchronous::full, n, true);
  double cp_normal = writer_rate(dir, Algorithm::ed25519, Synchronous::normal, n, true);
  std::printf("%-18s %14s %14s %16.0f %16.0f\n", "checkpoint-only", "-", "-", cp_full, cp_normal);
  std::printf("\nratio = journal/s (synchronous=full) / openssl speed sign/s\n");
  std::filesystem::remove_all(dir);
}
