// mrv-registry: the reference registry (docs/registry-api.md). Exit codes: 0 stopped by
// SIGINT/SIGTERM, 1 a failure at start, 2 usage or config errors. `mrv-registry enroll`
// is an admin's client for a running registry (src/enroll_cli.hpp).
#include <malloc.h>
#include <sys/stat.h>

#include <csignal>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "mrv/core/log.hpp"
#include "mrv/registry/registry_config.hpp"
#include "mrv/registry/server.hpp"
#include "enroll_cli.hpp"

namespace {

// Requests allocate and free bodies of tens to hundreds of KiB on the worker threads. By
// default glibc hands such memory back to the kernel after each one (madvise, and a TLB
// flush on every core) and faults it in again on the next: a few % of the registry's CPU
// (docs/benchmarks.md). Here an arena keeps up to 64 MiB free. Blocks over 1 MiB (a
// large body, the buffers it grows through) are still mapped apart and handed back when
// freed, so that one large request does not leave its peak resident.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  CLI::App app{"mrv-registry: receives, verifies and serves signed MRV records over HTTPS"};
  std::string config_file;
  bool check_only = false;
  app.add_option("-c,--config", config_file, "registry config (TOML), e.g. configs/registry.toml");
  app.add_flag("--check-config", check_only, "validate the config and exit");
  auto enroll = mrv::registry::add_enroll_command(app);
  try {
    app.parse(argc, argv);
    if (app.got_subcommand("enroll")) return enroll();
    if (config_file.empty()) throw CLI::RequiredError("--config");
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto config = mrv::registry::load_registry_config(config_file);
  if (!config) {
    for (const auto& e : config.error()) mrv::log::error(e.to_string());
    return 2;
  }
  if (check_only) {
    // What start reads besides the config: token, TLS and key files.
    if (auto files = mrv::registry::check_registry_files(*config); !files) {
      mrv::log::error(files.error().to_string());
      return 2;
    }
    std::cout << config_file << ": ok (" << config->sites.size() << " site(s))\n";
    return 0;
  }
  ::umask(027);  // the site databases are nobody else's business
  // Signals are taken by one thread (sigwait) so the server's threads never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  auto server = mrv::registry::Server::create(std::move(*config));
  if (!server) {
    mrv::log::error(server.error().to_string());
    return 1;
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    mrv::log::notice(std::string("registry: ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
    (*server)->stop();
  });
  auto ran = (*server)->run();
  if (!ran) {
    mrv::log::error(ran.error().to_string());
    pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return 1;
  }
  waiter.join();
  return 0;
}
