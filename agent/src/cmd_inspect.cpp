// status: the read-only view of a journal and of the running agent's state; the helpers
// the read-only commands share (open a journal from a config, progress on a terminal).
#include <unistd.h>

#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "calibration_watch.hpp"
#include "commands.hpp"
#include "mrv/evidence/export_file.hpp"
#include "mrv/agent/state_file.hpp"
#include "mrv/core/canonical.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/config.hpp"
#include "mrv/core/journal.hpp"
#include "mrv/core/time_text.hpp"

namespace mrv::agent {

std::function<void(uint64_t, uint64_t)> terminal_progress(std::string what) {
  if (!::isatty(STDERR_FILENO)) return {};
  return [what = std::move(what), last_percent = -1](uint64_t done, uint64_t total) mutable {
    int percent = total ? static_cast<int>(100 * done / total) : 100;
    if (percent == last_percent) return;
    last_percent = percent;
    std::cerr << "\r" << what << " " << percent << "% (" << done << "/" << total << ")"
              << (done == total ? "\n" : "") << std::flush;
  };
}

std::optional<std::pair<Config, Journal>> open_from_config(const std::filesystem::path& path) {
  auto config = load_config(path);
  if (!config) {
    for (const Error& e : config.error()) std::cerr << e.to_string() << "\n";
    return std::nullopt;
  }
  auto journal = Journal::open_read_only(config->journal.path);
  if (!journal) {
    std::cerr << journal.error().to_string() << "\n";
    return std::nullopt;
  }
  return std::pair{std::move(*config), std::move(*journal)};
}

namespace {

// The running agent rewrites its state file every 2 s.
constexpr int64_t kStateFreshMs = 10'000;

std::string age_text(int64_t ms) {
  if (ms < 0) return "in the future";
  if (ms < 120'000) return std::to_string(ms / 1000) + " s";
  if (ms < 7'200'000) return std::to_string(ms / 60'000) + " min";
  return std::to_string(ms / 3'600'000) + " h";
}

}  // namespace

int status(const std::filesystem::path& config_path, bool json) {
  auto opened = open_from_config(config_path);
  if (!opened) return kExitFailure;
  auto& [config, journal] = *opened;
  auto stats = journal.stats();
  auto chain = journal.check_tail(256);
  if (!stats || !chain) {
    std::cerr << (!stats ? stats.error() : chain.error()).to_string() << "\n";
    return kExitFailure;
  }
  int64_t now = utc_now_ms();
  nlohmann::json j = {
      {"site", config.site_id},
      {"journal", {{"path", config.journal.path.string()},
                   {"first_seq", stats->first_seq}, {"last_seq", stats->last_seq},
                   {"records", stats->record_count}, {"used_bytes", stats->used_bytes},
                   {"file_bytes", stats->file_bytes}, {"quota_bytes", config.journal.quota_bytes},
                   {"upload_cursor", stats->upload_cursor}, {"head_hash", stats->head_hash_hex}}},
      {"chain", {{"intact", chain->intact}, {"problem", chain->problem}}},
      {"points", nlohmann::json::array()}};
  if (auto latest = journal.latest_checkpoint(); latest && *latest) {
    const Checkpoint& c = (*latest)->checkpoint;
    j["checkpoint"] = {{"tree_size", c.tree_size}, {"reason", (*latest)->reason}, {"made_ms", c.time_ms},
                       {"age_ms", now - c.time_ms},
                       {"records_not_covered", stats->last_seq > c.tree_size ? stats->last_seq - c.tree_size : 0}};
  }
  for (const auto& p : config.points) {
    auto last = journal.last_reading(p.id);
    nlohmann::json pj = {{"id", p.id}};
    if (last && *last)
      pj.update({{"seq", (*last)->seq}, {"value", (*last)->value}, {"unit", (*last)->unit},
                 {"quality", (*last)->quality}, {"ts_ms", (*last)->ts_ms},
                 {"age_ms", now - (*last)->ts_ms}});
    j["points"].push_back(pj);
  }
  // Each meter's calibration now, from this config and the journal's site records.
  std::vector<PointCalibration> calibrations;
  if (auto read = read_calibration_records(journal)) {
    calibrations = calibration_status(config, read->records, now);
    if (!read->problem.empty()) j["calibration_error"] = read->problem;
  } else {
    j["calibration_error"] = read.error().to_string();
  }
  j["calibrations"] = nlohmann::json::array();
  for (const auto& c : calibrations) j["calibrations"].push_back(calibration_json(c));
  // The running agent's live state, when there is one. Whether it runs is the journal's
  // one-writer lock (an agent killed a moment ago holds none); the state file's age
  // only when the lock cannot be read (another user's files).
  nlohmann::json state_upload;
  auto writer_running = Journal::writer_running(config.journal.path);
  if (writer_running) j["agent"] = {{"running", *writer_running}};
  if (auto text = read_state_file(config.journal.path)) {
    auto state = nlohmann::json::parse(*text, nullptr, false);
    if (state.is_object() && state.contains("updated_ms") && state["updated_ms"].is_number()) {
      int64_t age = now - state["updated_ms"].get<int64_t>();
      j["agent"]["running"] = writer_running ? *writer_running : age < kStateFreshMs;
      j["agent"]["state_age_ms"] = age;
      if (state.contains("pid")) j["agent"]["pid"] = state["pid"];
      if (state.contains("mqtt")) j["mqtt"] = state["mqtt"];
      if (state.contains("modbus")) j["modbus"] = state["modbus"];
      if (state.contains("writer")) j["writer"] = state["writer"];
      if (state.contains("upload")) state_upload = state["upload"];
    }
  }
  if (!config.upload.url.empty()) {
    // Lag: what the registry has not receipted, and how long the oldest of it has waited.
    uint64_t cursor = stats->upload_cursor;
    int64_t oldest_ms = 0;
    (void)journal.for_each_record(cursor + 1, stats->last_seq, [&](const StoredRecord& r) {
      if (auto f = decode_record(r.canonical)) oldest_ms = f->received.utc_ms;
    }, 1);
    nlohmann::json u = {{"url", config.upload.url}, {"cursor", cursor},
                        {"lag_records", stats->last_seq > cursor ? stats->last_seq - cursor : 0},
                        {"lag_age_s", oldest_ms ? (now - oldest_ms) / 1000.0 : 0.0},
                        {"last_error", ""}, {"stopped", false}, {"stopped_reason", ""}, {"uploaded_records", 0}};
    if (j.contains("agent") && j["agent"]["running"].get<bool>() && state_upload.is_object()) {
      u["last_error"] = state_upload.value("last_error", "");
      u["stopped_reason"] = state_upload.value("stopped", "");
      u["stopped"] = !u["stopped_reason"].get<std::string>().empty();
      u["uploaded_records"] = state_upload.value("uploaded_records", uint64_t{0});
      u["last_receipt_ms"] = state_upload.value("last_receipt_ms", int64_t{0});
      u["bytes_sent"] = state_upload.value("bytes_sent", uint64_t{0});
    }
    j["upload"] = u;
  }
  if (auto counts = journal.quarantine_counts()) {
    j["quarantine"] = nlohmann::json::array();
    for (const auto& [source, reason, count] : *counts)
      j["quarantine"].push_back({{"source", source}, {"reason", reason}, {"count", count}});
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return chain->intact ? kExitOk : kExitFailure;
  }
  std::cout << "site        " << config.site_id << "\n"
            << "journal     " << config.journal.path.string() << "\n"
            << "records     " << stats->record_count << " (seq " << stats->first_seq << ".."
            << stats->last_seq << ")\n"
            << "size        " << stats->used_bytes / 1024 << " KiB used of "
            << config.journal.quota_bytes / (1024 * 1024) << " MiB quota (file "
            << stats->file_bytes / 1024 << " KiB)\n"
            << "uploaded    through seq " << stats->upload_cursor << "\n";
  if (j.contains("upload")) {
    const auto& u = j["upload"];
    std::cout << "upload      " << u["url"].get<std::string>() << ": " << u["lag_records"].get<uint64_t>()
              << " records waiting";
    if (u["lag_records"].get<uint64_t>() > 0)
      std::cout << ", oldest " << age_text(static_cast<int64_t>(u["lag_age_s"].get<double>() * 1000)) << " old";
    std::cout << "\n";
    if (u["stopped"].get<bool>()) std::cout << "            STOPPED: " << u["stopped_reason"].get<std::string>() << "\n";
    else if (!u["last_error"].get<std::string>().empty())
      std::cout << "            last error: " << u["last_error"].get<std::string>() << "\n";
  }
  std::cout
            << "chain       " << (chain->intact ? "intact" : "BROKEN: " + chain->problem)
            << " (head " << stats->head_hash_hex.substr(0, 16) << "...)\n";
  if (j.contains("checkpoint")) {
    const auto& c = j["checkpoint"];
    std::cout << "checkpoint  tree size " << c["tree_size"].get<uint64_t>() << " ("
              << c["reason"].get<std::string>() << "), " << age_text(c["age_ms"].get<int64_t>())
              << " ago; " << c["records_not_covered"].get<uint64_t>() << " records not yet covered\n";
  } else {
    std::cout << "checkpoint  none yet\n";
  }
  std::cout << "points\n";
  for (const auto& p : j["points"]) {
    std::cout << "  " << p["id"].get<std::string>();
    if (p.contains("value"))
      std::cout << "  " << p["value"].get<std::string>() << " " << p["unit"].get<std::string>()
                << "  " << p["quality"].get<std::string>() << "  "
                << age_text(p["age_ms"].get<int64_t>()) << " ago  (seq "
                << p["seq"].get<uint64_t>() << ")";
    else
      std::cout << "  no reading yet";
    std::cout << "\n";
  }
  std::cout << calibration_status_text(calibrations);
  if (j.contains("calibration_error"))
    std::cout << "            site records: " << j["calibration_error"].get<std::string>() << "\n";
  if (j.contains("agent")) {
    const auto& a = j["agent"];
    bool running = a["running"].get<bool>();
    std::cout << "agent       " << (running ? "running" : "not running");
    if (a.contains("state_age_ms")) {
      int64_t age = a["state_age_ms"].get<int64_t>();
      std::cout << " (state " << age_text(age) << " old"
                << (running && age >= kStateFreshMs ? ": not rewritten, is the disk full?" : "") << ")";
    }
    std::cout << "\n";
  }
  if (j.contains("mqtt"))
    for (const auto& m : j["mqtt"]) {
      std::cout << "mqtt        " << m.value("name", "") << " " << m.value("url", "") << "  "
                << m.value("state", "") << "  messages " << m.value("messages", 0)
                << ", readings " << m.value("readings", 0) << ", quarantined "
                << m.value("quarantined", 0) << ", connects " << m.value("connects", 0)
                << ", subscribed " << m.value("subscribed", 0) << "/" << m.value("subscriptions", 0) << "\n";
      if (!m.value("last_error", "").empty())
        std::cout << "              last error: " << m.value("last_error", "") << "\n";
      for (const auto& [key, count] : m["bad_inputs"].items())
        std::cout << "              bad input " << key << ": " << count << "\n";
    }
  if (j.contains("modbus"))
    for (const auto& g : j["modbus"]) {
      std::cout << "modbus      " << g.value("name", "") << "  " << g.value("state", "") << "  polls "
                << g.value("polls", 0) << ", readings " << g.value("readings", 0) << ", gaps "
                << g.value("gaps", 0) << ", requests " << g.value("requests", 0) << ", retries "
                << g.value("retries", 0) << "\n";
      if (!g.value("last_error", "").empty())
        std::cout << "              last error: " << g.value("last_error", "") << "\n";
    }
  if (j.contains("quarantine") && !j["quarantine"].empty()) {
    std::cout << "quarantine  (export --quarantine shows the messages)\n";
    for (const auto& q : j["quarantine"])
      std::cout << "  " << q["source"].get<std::string>() << "  " << q["reason"].get<std::string>()
                << ": " << q["count"].get<uint64_t>() << "\n";
  }
  return chain->intact ? kExitOk : kExitFailure;
}

}  // namespace mrv::agent
