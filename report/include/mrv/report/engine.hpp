#pragma once
// Computes a monitoring report (report.hpp) from records, for one period of the config's
// [monitoring] section. The same engine runs in `report` (records from the journal) and
// in `verify` (records from a bundle), so a report recomputed from a bundle's records
// is the report: records go in by seq order, and the result depends only on them and
// on the configs they name.
//
// Which readings count (docs/report-format.md):
//  - readings of the parameters' points with quality good and a value, in the window
//    [period start - boundary window, period end + boundary window); a reading not later
//    than its point's previous one is out of order and ignored (counted);
//  - a counter's start (end) register is the reading closest to the boundary, or, when
//    the config allows it, the value interpolated between the readings either side;
//  - a gap is a stretch longer than 2.5 intervals between readings (two expected readings
//    missing): a counter loses nothing across it, an integral counts it as its rule says;
//  - a reading made after its meter's calibration ran out (by the config the record
//    names) is out of calibration: the part of the parameter it measured is corrected by
//    the meter's accuracy class in the direction that lowers the emission reductions.
// Memory depends on the points, gaps and breaks, not on the number of readings.
#include <functional>
#include <memory>
#include <string>

#include "mrv/core/config.hpp"
#include "mrv/core/error.hpp"
#include "mrv/core/reading.hpp"
#include "mrv/report/report.hpp"

namespace mrv::report {

// The config a record names by its hash (its meter serial and calibration at the time),
// or nullptr when it is not at hand (then the report's own config stands in, and a note
// says so).
using ConfigResolver = std::function<const Config*(const std::string& config_hash_hex)>;

// A gap is longer than this many expected intervals.
inline constexpr double kGapIntervals = 2.5;
// Points drawn per chart: buckets of the period.
inline constexpr size_t kChartBuckets = 480;

class ReportEngine {
 public:
  // `config` (with its [monitoring] section) must outlive the engine and the report.
  ReportEngine(const Config& config, const MonitoringPeriod& period, ConfigResolver resolver);
  ReportEngine(ReportEngine&&) noexcept;
  ~ReportEngine();

  // The readings the engine looks at: [from, to).
  int64_t window_from_ms() const;
  int64_t window_to_ms() const;

  // Every site record (type site-record) of the journal that the report may use, before
  // the first push: calibrations, exchanges and manual readings change how earlier
  // readings count. Others, and any after the first push, are ignored.
  void add_site_record(const RecordFields& record);
  // Records in seq order; any record may come (others, site records too, are skipped cheaply).
  void push(const RecordFields& record);
  // The parameters, corrections and formulas. An error only when a formula cannot be
  // evaluated (e.g. a division by a parameter that came out 0).
  [[nodiscard]] Result<Report> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv::report
