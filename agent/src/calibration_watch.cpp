#include "calibration_watch.hpp"

#include <sys/syslog.h>

#include <algorithm>
#include <limits>

#include "mrv/core/canonical.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/log.hpp"

namespace mrv::agent {

Result<CalibrationRecords> read_calibration_records(Journal& journal, uint64_t after_seq) {
  auto rows = journal.site_records(std::numeric_limits<uint64_t>::max());
  if (!rows) return tl::unexpected(rows.error());
  CalibrationRecords out;
  out.through_seq = after_seq;
  for (const StoredRecord& row : *rows) {
    if (row.seq <= after_seq) continue;
    out.through_seq = std::max(out.through_seq, row.seq);
    auto fields = decode_record(row.canonical);
    auto site = fields ? parse_site_record(*fields) : Result<SiteRecord>(tl::unexpected(fields.error()));
    if (!site) {
      if (out.problem.empty()) out.problem = "site record " + std::to_string(row.seq) + ": " + site.error().to_string();
      continue;
    }
    if (site->kind == SiteRecordKind::calibration || site->kind == SiteRecordKind::meter_exchange)
      out.records.push_back({row.seq, std::move(*site)});
  }
  return out;
}

CalibrationWatch::CalibrationWatch(const Config& config, Options options)
    : options_(std::move(options)), journal_path_(config.journal.path),
      config_(std::make_shared<const Config>(config)) {
  if (options_.own_thread) thread_ = std::thread([this] { run(); });
}

CalibrationWatch::~CalibrationWatch() { stop(); }

void CalibrationWatch::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CalibrationWatch::set_config(const Config& config) {
  {
    std::lock_guard lock(mutex_);
    config_ = std::make_shared<const Config>(config);
    woken_ = true;
  }
  wake_.notify_one();
}

void CalibrationWatch::refresh() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  wake_.notify_one();
}

CalibrationSnapshot CalibrationWatch::snapshot() const {
  std::lock_guard lock(mutex_);
  return snapshot_;
}

void CalibrationWatch::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    woken_ = false;
    lock.unlock();
    tick();
    lock.lock();
    wake_.wait_for(lock, options_.poll, [&] { return stopping_ || woken_; });
  }
}

void CalibrationWatch::tick() {
  const int64_t now = options_.now ? options_.now() : utc_now_ms();
  std::shared_ptr<const Config> config;
  {
    std::lock_guard lock(mutex_);
    config = config_;
  }
  std::string error;
  bool new_records = false;
  if (!journal_) {
    auto opened = Journal::open_read_only(journal_path_);
    if (opened) journal_.emplace(std::move(*opened));
    else error = opened.error().to_string();
  }
  if (journal_) {
    if (auto read = read_calibration_records(*journal_, records_through_)) {
      new_records = read->through_seq != records_through_;
      records_through_ = read->through_seq;
      for (auto& r : read->records) records_.push_back(std::move(r));
      error = read->problem;
    } else {
      error = read.error().to_string();
      journal_.reset();  // opened again at the next tick
    }
  }
  bool due = new_records || config != computed_for_ || now >= next_compute_ms_;
  if (!due) {
    std::lock_guard lock(mutex_);
    snapshot_.error = error;
    return;
  }
  std::vector<PointCalibration> points = calibration_status(*config, records_, now);
  computed_for_ = config;
  next_compute_ms_ = now + static_cast<int64_t>(options_.recompute.count());
  if (auto change = next_calibration_change_ms(points, config->calibration_warning_days, now))
    next_compute_ms_ = std::min(next_compute_ms_, *change);
  log_changes(points);
  std::lock_guard lock(mutex_);
  snapshot_ = CalibrationSnapshot{true, error, now, std::move(points)};
}

void CalibrationWatch::log_changes(const std::vector<PointCalibration>& points) {
  auto write = [&](int priority, const std::string& message) {
    if (options_.log) options_.log(priority, message);
    else log::write(priority, message);
  };
  std::map<std::string, Logged> next;
  for (const PointCalibration& p : points) {
    Logged now{p.state, p.meter_serial, p.valid_until_ms};
    next[p.point] = now;
    auto before = logged_.find(p.point);
    bool changed = before == logged_.end()
                       ? p.state != CalibrationState::ok  // at start (or a new point): only what is not ok
                       : before->second.state != p.state || before->second.meter_serial != p.meter_serial ||
                             (is_warning(p.state) && before->second.valid_until_ms != p.valid_until_ms);
    if (!changed) continue;
    write(is_warning(p.state) ? LOG_WARNING : p.state == CalibrationState::ok ? LOG_NOTICE : LOG_INFO,
          calibration_message(p));
  }
  logged_ = std::move(next);
}

}  // namespace mrv::agent
