// check-config and keygen.
#include <iostream>

#include "commands.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/crypto.hpp"

namespace mrv::agent {

int check_config(const std::filesystem::path& config) {
  auto c = load_config(config);
  if (!c) {
    for (const Error& e : c.error()) std::cerr << e.to_string() << "\n";
    std::cerr << c.error().size() << " error(s) in " << config.string() << "\n";
    return kExitFailure;
  }
  std::cout << config.string() << ": valid (site " << c->site_id << ", " << c->points.size()
            << " points, " << c->simulated_sources.size() << " simulated sources, config hash "
            << c->hash_hex << ")\n";
  return kExitOk;
}

int keygen(const std::filesystem::path& out, const std::string& algorithm) {
  auto alg = parse_algorithm(algorithm);
  if (!alg) {
    std::cerr << alg.error().to_string() << "\n";
    return kExitUsage;
  }
  auto signer = Signer::generate(*alg);
  if (!signer) {
    std::cerr << signer.error().to_string() << "\n";
    return kExitFailure;
  }
  if (auto r = signer->save(out); !r) {
    std::cerr << r.error().to_string() << "\n";
    return kExitFailure;
  }
  std::cout << signer->public_pem() << "key id: " << signer->key_id_hex() << "\n"
            << "algorithm: " << to_string(*alg) << "\n";
  return kExitOk;
}

}  // namespace mrv::agent
