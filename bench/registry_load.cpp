// A load of many sites on one registry (bench/registry_load.sh, docs/benchmarks.md): each
// site has its own Ed25519 key and chain, its batches signed and gzipped ahead of time;
// the sites are enrolled through the admin API, register their keys and config, then
// post their batches over loopback HTTPS, one connection per site, from T threads. With
// --rate the batches are sent on a fixed schedule (open loop) and a receipt's latency
// counts from when its batch was due, so a registry that falls behind shows it.
// With several URLs (registry processes sharing one PostgreSQL database) each site's
// batches go to the URLs in turn (--route batch), so consecutive batches of a site reach
// different processes, or each site keeps to one URL (--route site: site i to URL i mod n,
// as a balancer that routes by connection does while an agent's connection lasts); sites
// are enrolled, and register their key and config, through the first URL, and posting
// starts once every URL answers each site's token.
//   mrv-registry-load --url URL [--url URL2 ...] --ca-file CA --admin-token-file F --sites N
//                     --records R --batch B [--rate RECORDS_PER_S] [--threads T] [--prefix P]
//                     [--route batch|site]
// Prints one line of JSON: records, seconds, records_per_s, latency_ms p50/p99/max, errors
// (and failures: their count by HTTP status, or "transport").
#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "mrv/core/gzip.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/uploader/https_client.hpp"

using namespace mrv;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

struct Site {
  std::string id, token, public_pem, config_hash, config_text;
  std::vector<std::string> batches;  // gzip bodies, in seq order
  std::vector<std::unique_ptr<uploader::HttpsClient>> clients;  // one per URL
};

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes));
  return to_hex(raw);
}

// A journal of `records` readings of 10 points, signed by a fresh key, as record-line
// batches of `batch` gzipped at level 6 (the agent's default).
Result<Site> make_site(const std::string& id, const std::filesystem::path& dir, uint64_t records, uint64_t batch) {
  Site s;
  s.id = id;
  s.token = random_hex(32);
  auto signer = Signer::generate(Algorithm::ed25519);
  if (!signer) return tl::unexpected(signer.error());
  s.public_pem = signer->public_pem();
  s.config_text = "[site]\nid = \"" + id + "\"\n";
  s.config_hash = to_hex(sha256(s.config_text));
  JournalOptions o;
  auto folder = dir / id;  // the journal and its anchor and lock files, removed once read
  std::filesystem::remove_all(folder);
  std::filesystem::create_directories(folder);
  o.path = folder / "journal.db";
  o.synchronous = Synchronous::normal;
  o.site_id = id;
  o.config_hash_hex = s.config_hash;
  o.config_text = s.config_text;
  o.boot_id = "load";
  o.checkpoint_interval_ms = 1 << 30;
  auto journal = Journal::open_for_writing(o, std::move(*signer));
  if (!journal) return tl::unexpected(journal.error());
  std::vector<AcceptedReading> readings;
  int64_t t0 = 1796000000000;
  for (uint64_t i = 0; i < records; ++i) {
    AcceptedReading& a = readings.emplace_back();
    a.reading.point_id = "p" + std::to_string(i % 10) + ".energy_kwh";
    a.reading.value = std::to_string(1000 + i / 10) + ".25";
    a.reading.unit = "kWh";
    a.reading.ts_ms = t0 + static_cast<int64_t>(i / 10) * 60'000;
    a.reading.source = "modbus:gw1/unit" + std::to_string(i % 10) + "/holding/40001";
    a.received = ClockSample{a.reading.ts_ms + 5, 1000, ClockSync::synchronised};
  }
  if (auto r = journal->append(readings); !r) return tl::unexpected(r.error());
  for (uint64_t from = 1; from <= journal->last_seq(); from += batch) {
    std::string lines, body;
    auto read = journal->for_each_record(from, std::min(journal->last_seq(), from + batch - 1), [&](const StoredRecord& r) {
      append_record_line(lines, r.seq, r.canonical, r.hash, r.signature);
    });
    if (!read) return tl::unexpected(read.error());
    if (auto z = gzip_compress(lines, 6, body); !z) return tl::unexpected(z.error());
    s.batches.push_back(std::move(body));
  }
  std::filesystem::remove_all(folder);
  return s;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t k = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mrv-registry-load: many sites uploading to one registry"};
  std::vector<std::string> urls;
  std::string ca_file, admin_token_file, prefix = "load", work_dir = "/tmp/mrv-registry-load", route = "batch";
  uint64_t sites_n = 100, records = 1000, batch = 100;
  double rate = 0;
  int threads = 16;
  app.add_option("--url", urls, "registry URL; repeat it (or a comma list) for several processes")->required()->delimiter(',');
  app.add_option("--ca-file", ca_file)->required();
  app.add_option("--admin-token-file", admin_token_file)->required();
  app.add_option("--sites", sites_n);
  app.add_option("--records", records, "records per site");
  app.add_option("--batch", batch, "records per post");
  app.add_option("--rate", rate, "records/s over all sites (0: as fast as the registry takes them)");
  app.add_option("--threads", threads);
  app.add_option("--prefix", prefix, "site ids are PREFIX-0000 ...: a new prefix per run on one registry");
  app.add_option("--dir", work_dir, "scratch folder for the journals made");
  app.add_option("--route", route, "with several URLs: each site's batches to them in turn, or each site to one")
      ->check(CLI::IsMember({"batch", "site"}));
  CLI11_PARSE(app, argc, argv);

  std::filesystem::create_directories(work_dir);
  auto t_prep = Clock::now();
  std::vector<Site> sites(sites_n);
  {
    std::atomic<uint64_t> next{0};
    std::atomic<bool> failed{false};
    std::vector<std::thread> makers;
    for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t)
      makers.emplace_back([&] {
        for (uint64_t i; (i = next++) < sites_n;) {
          char id[64];
          std::snprintf(id, sizeof id, "%s-%04llu", prefix.c_str(), static_cast<unsigned long long>(i));
          auto s = make_site(id, work_dir, records, batch);
          if (!s) {
            std::fprintf(stderr, "%s\n", s.error().to_string().c_str());
            failed = true;
            return;
          }
          sites[i] = std::move(*s);
        }
      });
    for (auto& m : makers) m.join();
    if (failed) return 1;
  }
  std::fprintf(stderr, "prepared %llu sites x %llu records in %.1f s\n", static_cast<unsigned long long>(sites_n),
               static_cast<unsigned long long>(records), std::chrono::duration<double>(Clock::now() - t_prep).count());

  auto client_for = [&](const std::string& url, const std::string& token) {
    uploader::HttpsClientOptions o;
    o.url = url;
    o.ca_file = ca_file;
    o.bearer_token = token;
    o.timeout = std::chrono::milliseconds(120'000);
    auto c = uploader::HttpsClient::create(o);
    if (!c) {
      std::fprintf(stderr, "%s\n", c.error().to_string().c_str());
      std::exit(1);
    }
    return std::make_unique<uploader::HttpsClient>(std::move(*c));
  };
  auto expect_200 = [](const Result<uploader::HttpResponse>& r, const std::string& what) {
    if (!r || r->status != 200) {
      std::fprintf(stderr, "%s: %s\n", what.c_str(), r ? r->body.c_str() : r.error().to_string().c_str());
      std::exit(1);
    }
  };
  std::ifstream admin_in(admin_token_file);
  std::string admin_token;
  std::getline(admin_in, admin_token);
  auto admin = client_for(urls[0], admin_token);
  auto t_enroll = Clock::now();
  for (auto& s : sites) {
    json action = {{"action", "add_site"}, {"site", s.id}, {"token_sha256", to_hex(sha256(s.token))}, {"keys", {s.public_pem}}};
    expect_200(admin->send({"POST", "/v1/admin/actions", "application/json", "", action.dump()}), "enroll " + s.id);
  }
  double enroll_s = std::chrono::duration<double>(Clock::now() - t_enroll).count();
  for (auto& s : sites) {
    for (auto& u : urls) s.clients.push_back(client_for(u, s.token));
    std::string base = "/v1/sites/" + s.id;
    expect_200(s.clients[0]->send({"PUT", base + "/keys", "application/x-pem-file", "", s.public_pem}), "key " + s.id);
    expect_200(s.clients[0]->send({"PUT", base + "/configs/" + s.config_hash, "application/toml", "", s.config_text}), "config " + s.id);
  }
  // The other processes learn of the enrollments from the shared audit log (within about
  // a second): wait until each answers every site's token.
  uint64_t not_yet = 0;
  for (auto& s : sites)
    for (size_t u = 1; u < urls.size(); ++u)
      for (auto give_up = Clock::now() + std::chrono::seconds(30);;) {
        auto r = s.clients[u]->send({"GET", "/v1/sites/" + s.id, "", "", ""});
        if (r && r->status == 200) break;
        if (Clock::now() > give_up || (r && r->status != 401 && r->status != 404)) {
          expect_200(r, urls[u] + " site " + s.id);
        }
        ++not_yet;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
  if (urls.size() > 1)
    std::fprintf(stderr, "every URL answers every site (%llu early answers retried)\n", static_cast<unsigned long long>(not_yet));

  std::fprintf(stderr, "posting\n");  // bench/registry_load.sh counts the registry's CPU from here
  // Thread t posts for sites t, t+T, ...: round after round, one batch per site.
  std::vector<std::vector<double>> latencies(threads);
  std::atomic<uint64_t> errors{0}, posted{0};
  std::mutex status_mutex;
  std::map<std::string, uint64_t> failures;  // status (or "transport") -> count
  size_t rounds = sites.empty() ? 0 : sites[0].batches.size();
  uint64_t per_post = std::min(batch, records);  // records in each post (the last may hold fewer)

  auto t0 = Clock::now();
  std::vector<std::thread> posters;
  for (int t = 0; t < threads; ++t)
    posters.emplace_back([&, t] {
      uint64_t m = 0;
      // This thread's share of the rate is its share of the sites.
      size_t first = static_cast<size_t>(t), step = static_cast<size_t>(threads);
      size_t mine = first < sites.size() ? (sites.size() - first + step - 1) / step : 0;
      double share = rate * static_cast<double>(mine) / static_cast<double>(sites.size());
      double batch_interval_s = share > 0 ? static_cast<double>(per_post) / share : 0;
      auto offset = std::chrono::duration<double>(rate > 0 ? static_cast<double>(per_post) * t / rate : 0);
      for (size_t r = 0; r < rounds; ++r)
        for (size_t i = static_cast<size_t>(t); i < sites.size(); i += static_cast<size_t>(threads), ++m) {
          auto due = t0 + std::chrono::duration_cast<Clock::duration>(offset + std::chrono::duration<double>(batch_interval_s * static_cast<double>(m)));
          if (rate > 0) std::this_thread::sleep_until(due);
          else due = Clock::now();
          Site& s = sites[i];
          auto resp = s.clients[(i + (route == "batch" ? r : 0)) % urls.size()]->send({"POST", "/v1/sites/" + s.id + "/records", "application/x-ndjson", "gzip", s.batches[r]});
          latencies[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
          if (!resp || resp->status != 200) {
            if (errors++ < 5) std::fprintf(stderr, "%s round %zu: %s\n", s.id.c_str(), r, resp ? resp->body.c_str() : resp.error().to_string().c_str());
            std::lock_guard lock(status_mutex);
            ++failures[resp ? std::to_string(resp->status) : "transport"];
          } else {
            posted += std::min<uint64_t>(batch, records - r * batch);
          }
        }
    });
  for (auto& p : posters) p.join();
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  double p50 = percentile(all, 0.50), p99 = percentile(all, 0.99);
  double max = all.empty() ? 0 : *std::max_element(all.begin(), all.end());
  json out = {{"sites", sites_n}, {"records", posted.load()}, {"seconds", seconds},
              {"records_per_s", static_cast<double>(posted.load()) / seconds}, {"target_rate", rate},
              {"batch", batch}, {"threads", threads}, {"latency_ms", {{"p50", p50}, {"p99", p99}, {"max", max}}},
              {"errors", errors.load()}, {"failures", failures}, {"enroll_s", enroll_s}, {"urls", urls.size()},
              {"route", route}};
  std::printf("%s\n", out.dump().c_str());
  return errors ? 1 : 0;
}
