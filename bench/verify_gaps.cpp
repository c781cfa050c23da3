// What an idle gap between bursts of signature checks costs on this machine, with plain
// OpenSSL and no code of ours: Ed25519 checks of distinct messages under many keys (one
// verify context per key, set up once and re-initialised before each check, as the
// registry's verify_pool does through core/src/crypto.cpp), run in bursts,
// either back to back or with the thread asleep between them. Rounds of the two kinds
// alternate, so a drift in the host's speed falls on both alike. Prints the checks per
// CPU-second of each kind and their ratio (docs/benchmarks.md: a steady load leaves the
// registry's cores idle between batches, which `openssl speed` never does).
// Usage: mrv-verify-gaps [--keys 100] [--burst 64] [--gap-ms 10] [--rounds 10] [--seconds 0.5]
#include <openssl/evp.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Key {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey{nullptr, EVP_PKEY_free};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> verify{nullptr, EVP_MD_CTX_free};
};

struct Signed {
  size_t key;
  std::string message;
  unsigned char signature[64];
};

double thread_cpu_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

double wall_s() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// Signs `count` messages shaped like record lines, spread over the keys in turn.
std::vector<Signed> sign_ahead(std::vector<Key>& keys, size_t count) {
  std::vector<Signed> out(count);
  for (size_t i = 0; i < count; ++i) {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    Signed& s = out[i];
    s.key = i % keys.size();
    s.message = "{\"seq\":" + std::to_string(i + 1) + ",\"point\":\"meter-" + std::to_string(s.key) +
                "/active_energy_import\",\"value\":\"" + std::to_string(1000 + i) +
                ".125\",\"unit\":\"kWh\",\"quality\":\"good\",\"ts\":\"2026-12-07T00:00:00.000Z\"}";
    s.message.resize(300, ' ');
    size_t len = sizeof s.signature;
    if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, keys[s.key].pkey.get()) != 1 ||
        EVP_DigestSign(ctx.get(), s.signature, &len, reinterpret_cast<const unsigned char*>(s.message.data()),
                       s.message.size()) != 1)
      throw std::runtime_error("signing failed");
  }
  return out;
}

struct Options {
  size_t keys = 100, burst = 64;
  double gap_ms = 10, seconds = 0.5;
  int rounds = 10;
};

// Prints one JSON line; throws if OpenSSL fails.
void measure(const Options& o) {
  std::vector<Key> keys(o.keys);
  for (Key& k : keys) {
    k.pkey.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
    k.verify.reset(EVP_MD_CTX_new());
    if (!k.pkey || !k.verify || EVP_DigestVerifyInit(k.verify.get(), nullptr, nullptr, nullptr, k.pkey.get()) != 1)
      throw std::runtime_error("OpenSSL could not make an Ed25519 key");
  }
  const std::vector<Signed> messages = sign_ahead(keys, 4096);

  size_t next = 0;
  auto check_burst = [&] {
    for (size_t b = 0; b < o.burst; ++b, next = (next + 1) % messages.size()) {
      const Signed& s = messages[next];
      EVP_MD_CTX* verify = keys[s.key].verify.get();
      // Re-initialised with no arguments before each one-shot, as core/src/crypto.cpp does.
      if (EVP_DigestVerifyInit(verify, nullptr, nullptr, nullptr, nullptr) != 1 ||
          EVP_DigestVerify(verify, s.signature, sizeof s.signature,
                           reinterpret_cast<const unsigned char*>(s.message.data()), s.message.size()) != 1)
        throw std::runtime_error("a good signature failed to verify");
    }
  };
  // One round: bursts until `seconds` of CPU time went to checks; returns checks/CPU-s.
  const timespec gap{static_cast<time_t>(o.gap_ms / 1000), static_cast<long>(o.gap_ms * 1e6) % 1'000'000'000};
  auto round = [&](bool idle) {
    double cpu = 0;
    size_t checks = 0;
    while (cpu < o.seconds) {
      double started = thread_cpu_s();
      check_burst();
      cpu += thread_cpu_s() - started;
      checks += o.burst;
      if (idle && o.gap_ms > 0) nanosleep(&gap, nullptr);
    }
    return static_cast<double>(checks) / cpu;
  };

  double wall = wall_s(), back_to_back = 0, with_gaps = 0;
  for (int r = 0; r < o.rounds; ++r) {
    back_to_back += round(false) / o.rounds;
    with_gaps += round(true) / o.rounds;
  }
  std::printf(
      "{\"keys\": %zu, \"burst\": %zu, \"gap_ms\": %.2f, \"rounds\": %d, \"back_to_back_per_cpu_s\": %.0f, "
      "\"with_gaps_per_cpu_s\": %.0f, \"ratio\": %.3f, \"wall_s\": %.1f}\n",
      o.keys, o.burst, o.gap_ms, o.rounds, back_to_back, with_gaps, with_gaps / back_to_back, wall_s() - wall);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"CPU per Ed25519 check in bursts back to back, and with the thread idle between bursts"};
  app.add_option("--keys", o.keys, "keys the messages are signed under")->check(CLI::Range(1, 100000));
  app.add_option("--burst", o.burst, "checks per burst")->check(CLI::Range(1, 100000));
  app.add_option("--gap-ms", o.gap_ms, "idle time between bursts, ms")->check(CLI::Range(0.0, 1000.0));
  app.add_option("--rounds", o.rounds, "rounds of each kind, alternating")->check(CLI::Range(1, 1000));
  app.add_option("--seconds", o.seconds, "CPU time of checks per round")->check(CLI::Range(0.01, 60.0));
  CLI11_PARSE(app, argc, argv);
  try {
    measure(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mrv-verify-gaps: %s\n", e.what());
    return 1;
  }
  return 0;
}
