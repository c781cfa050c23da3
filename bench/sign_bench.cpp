// Signing latency of one key: mrv-sign-bench KEY_FILE [COUNT] [TCTI]
// Signs COUNT checkpoint-sized messages one after another, as the journal writer does,
// and prints the median, 99th percentile and maximum in milliseconds, and the signatures
// a second that gives (signing time only: each signature is verified outside the timing). A TSS2 private key signs in the TPM (docs/benchmarks.md, "TPM").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mrv/core/crypto.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: mrv-sign-bench KEY_FILE [COUNT] [TCTI]\n");
    return 2;
  }
  const int count = argc > 2 ? std::max(1, std::atoi(argv[2])) : 200;
  auto signer = mrv::Signer::load(argv[1], argc > 3 ? argv[3] : "");
  if (!signer) {
    std::fprintf(stderr, "%s\n", signer.error().to_string().c_str());
    return 1;
  }
  const std::string body = "mrv-agent/bench-site\n1042\nbv3kLp4UOfV/SfQC2LUU3g/WpK1pNQebrF/ciaTDGSk=\n"
                           "mrv-time-ms 1767225660123\n";
  auto pub = mrv::PublicKey::from_pem(signer->public_pem());
  std::vector<double> ms;
  ms.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto sig = signer->sign(body + std::to_string(i));
    const auto t1 = std::chrono::steady_clock::now();
    if (!sig || !pub || !pub->verify(body + std::to_string(i), *sig)) {
      std::fprintf(stderr, "signature %d failed or does not verify\n", i);
      return 1;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  double total_ms = 0;
  for (double m : ms) total_ms += m;
  std::sort(ms.begin(), ms.end());
  std::printf("key %s (%s%s): %d signatures, median %.2f ms, p99 %.2f ms, max %.2f ms, %.0f signatures/s\n",
              signer->key_id_hex().substr(0, 16).c_str(), std::string(mrv::to_string(signer->algorithm())).c_str(),
              signer->in_tpm() ? ", in the TPM" : ", file", count, ms[ms.size() / 2],
              ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back(), count * 1000.0 / total_ms);
  return 0;
}
