#pragma once
// A monitoring report as computed (docs/report-format.md): every parameter with how each
// of its points was read over the period, the formulas' results, the credited emission
// reductions, and everything a verifier should know (gaps, breaks, boundary distances,
// calibration). The engine fills it; the JSON, CSV and HTML writers only print it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/record_line.hpp"
#include "mrv/report/counter.hpp"
#include "mrv/report/gauge.hpp"

namespace mrv::report {

// The register value a counter's period starts or ends with, and where it came from.
struct BoundaryValue {
  enum class How { reading, interpolated, none };
  How how = How::none;
  int64_t boundary_ms = 0;
  double value = 0;           // in the point's unit
  int64_t distance_ms = 0;    // reading time - boundary (negative: before it); 0 interpolated
  CounterReading reading;     // the reading used (how == reading)
  CounterReading before, after;  // the two readings interpolated between (how == interpolated)
  bool far = false;           // further from the boundary than the point's gap limit
};
const char* to_string(BoundaryValue::How how);

// A stretch without readings longer than the point's gap limit.
struct PointGap {
  int64_t from_ms = 0, to_ms = 0;
  std::string rule;   // "register difference" (counter), "zero", "substitute"
  double counted = 0; // integral: what the rule put in for it (parameter's unit)
  bool over_break = false;  // counter: a reset or exchange happened across it
  std::vector<uint64_t> explained_by;  // seqs of the site notes that cover it
};

// A site record (docs/record-format.md §1.6) the report used, by seq and hash.
struct SiteRecordUse {
  uint64_t seq = 0;
  std::string hash_hex, kind, point, summary;  // summary: what it says, for people
  int64_t ts_ms = 0;
  std::string file_sha256;  // the document's or certificate's file, as entered ("" for others)
};

// How much of the period a point's meter was covered by a valid calibration.
struct CalibrationCoverage {
  bool stated = false;     // false: no calibration date or record at all (coverage unknown)
  double covered_h = 0, failed_h = 0, expired_h = 0;  // hours of the period
  double coverage = 0;     // covered_h / period hours
  std::vector<SiteRecordUse> calibrations;  // the recorded calibrations that decided it
};

// A min/max/last summary of a point's values in one slice of the period, for charts.
struct ChartBucket {
  int64_t from_ms = 0;
  double min = 0, max = 0, last = 0;
  uint32_t readings = 0;
};

// One calendar day of the period in site time, for one point (a verifier samples days).
// For the monitoring workbook only (daily and monthly sheets); the JSON, CSV and HTML
// leave it out. Rules:
//  - every local day ([site] timezone) overlapping [period start, end), clipped to the
//    period: a period not starting at local midnight has a partial first day; a DST day
//    is 23 or 25 hours. Memory grows with the days, never with the readings;
//  - counter: the amount each counted reading adds to the total goes to the day of its
//    time, clamped into the period (a boundary reading outside it counts in the first or
//    last day), so Σ value is the point's value (before calibration correction); first
//    and last are the readings counted (an interpolated boundary value has seq 0);
//  - integral: the day's part of the integral, cut exactly at local midnights (a
//    trapezoid at the value interpolated there, gaps and held edges by time), so Σ value
//    is the point's value; mean, min and max (and first, last) as below;
//  - gauge: mean over the day's covered time, min and max of its readings (value 0 for
//    mean/min/max parameters);
//  - gap_hours: the hours of the point's gaps inside the day.
struct DayValue {
  std::string date;                 // local, "2027-01-05"
  int64_t from_ms = 0, to_ms = 0;   // the day's UTC bounds, clipped to the period
  uint64_t readings = 0;            // good readings inside the day (and the period)
  std::optional<CounterReading> first, last;  // the day's first and last reading (point unit; counter and gauge)
  double value = 0;                 // the day's share of PointReport::value (parameter unit): counter, integral
  std::optional<double> mean, min, max;       // gauge, point unit: time-weighted mean over the day's covered time, min, max of readings
  double gap_hours = 0;             // hours of the day inside gaps
};

struct PointReport {
  std::string point_id, unit;  // the point's unit as configured
  std::string meter_serial, accuracy_class, calibration_valid_until;  // as in the report's config
  int64_t interval_ms = 0, gap_limit_ms = 0;
  uint64_t readings = 0;           // good readings inside the period
  uint64_t expected_readings = 0;  // period / interval
  double coverage = 0;             // readings / expected, at most 1
  double gap_hours = 0;
  double covered_h = 0;            // hours of the period with readings close enough together
  uint64_t excluded_quality = 0;   // readings not good, or without a value
  uint64_t excluded_unit = 0;      // a unit that does not convert to the point's
  uint64_t out_of_order = 0;       // not later than the point's previous reading: ignored
  uint64_t unsynchronised = 0;     // stamped by the agent while its clock was not synchronised
  uint64_t out_of_calibration = 0; // readings not covered by a passing calibration (expired or failed)
  uint64_t manual_readings = 0;    // readings entered by people (site records) inside the period
  double value = 0;                // this point's share of the parameter (parameter's unit)
  double out_of_calibration_value = 0;  // the part of it measured out of calibration
  double correction_magnitude = 0; // Σ that part × its correction % / 100 (parameter's unit)
  double correction_percent_sum = 0;  // mean/min/max: Σ of the % of its out-of-calibration readings
  CalibrationCoverage calibration;
  std::vector<SiteRecordUse> exchanges;  // recorded meter exchanges counted across
  // counter
  std::optional<BoundaryValue> start, end;
  std::vector<CounterSegment> segments;
  std::vector<CounterEvent> events;
  // gauge
  std::optional<double> mean, min, max;  // point's unit
  std::vector<PointGap> gaps;
  std::vector<ChartBucket> chart;
  std::vector<DayValue> days;  // the period's local days (workbook only; see DayValue)
};

struct ParameterReport {
  const MonitoringParameter* config = nullptr;
  double measured = 0;      // aggregated from the points, before any correction
  double correction = 0;    // calibration correction applied (parameter's unit)
  double value = 0;         // measured + correction: what the formulas use
  bool has_data = true;     // false: no usable reading (mean/min/max of nothing)
  bool informational = false;  // the credited formula does not use it: no data credits nothing less
  double coverage = 1;      // the lowest of its points' (documents: of the period by documents)
  std::vector<PointReport> points;
  std::vector<SiteRecordUse> documents;  // aggregation documents: the documents summed
  std::vector<std::string> notes;  // what was done and why, in words
};

struct FormulaResult {
  const MonitoringFormula* config = nullptr;
  double value = 0;
  bool evaluated = true;   // false: an informational formula that could not be evaluated (a note says why)
};

// A declared cross-check of two values (a parameter or formula against another).
struct CrossCheckResult {
  const MonitoringCrossCheck* config = nullptr;
  std::optional<double> value, reference;  // none: no data
  double difference_percent = 0;           // |value − reference| / |reference| × 100
  bool pass = false;
};

struct SeqRange {
  uint64_t first = 0, last = 0, records = 0;  // records read for the report (its window)
};

// Ties the numbers to the signed journal (filled by whoever reads the journal).
struct Annex {
  std::string end_checkpoint;       // the first checkpoint covering every record of the window (tree size >= seqs.last)
  std::string previous_checkpoint;  // the previous period's end checkpoint ("" for the first period)
  std::vector<std::string> consistency_proof_hex;  // RFC 9162, previous -> end
};

// The period as JCM documents write it, and where it sits among the config's periods.
struct PeriodFacts {
  std::string time_zone;                        // the site's ([site] timezone)
  std::string first_local_date, last_local_date;  // inclusive: "2027-01-01", "2027-03-31"
  std::string jcm_dates;                        // "01/01/2027 - 31/03/2027"
  std::optional<CreditingPeriod> crediting_period;
  std::string crediting_jcm_dates;              // "" without a crediting period
  std::string previous_period;                  // the latest period before this one ("" none)
  bool back_to_back = false;                    // it ends exactly where this one starts
  std::string next_period;                      // a period starting exactly at this one's end
};

struct Report {
  std::string site_id, config_hash_hex, config_text;
  const MonitoringConfig* monitoring = nullptr;
  MonitoringPeriod period;
  PeriodFacts period_facts;
  int64_t window_from_ms = 0, window_to_ms = 0;  // readings read: the period ± the boundary window
  std::vector<ParameterReport> parameters;
  std::vector<FormulaResult> results;
  std::vector<CrossCheckResult> cross_checks;
  std::vector<SiteRecordUse> site_notes;  // notes about the period (outages explained)
  double emission_reductions = 0;   // the credited formula's value, tCO2
  int64_t credited_tco2 = 0;        // the exact value rounded down to whole tonnes, never below 0
  bool complete = true;             // false: a parameter had no data; nothing is credited
  std::vector<std::string> notes;   // report-wide statements (incomplete, ...)
  SeqRange seqs;
  Annex annex;
  // Every site record of the journal through `site_records_through` (the journal's head
  // when the report was made), as record lines: the engine's inputs besides the window's
  // readings, so a verifier recomputes with the same ones (filled by whoever reads the journal).
  uint64_t site_records_through = 0;
  std::vector<RecordLine> site_records;
  int64_t generated_ms = 0;
};

}  // namespace mrv::report
