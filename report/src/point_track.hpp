#pragma once
// One point of one parameter while a report is computed: its readings go in one by one
// (seq order), its share of the parameter comes out (engine.hpp states the rules).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/reading.hpp"
#include "mrv/core/units.hpp"
#include "mrv/report/counter.hpp"
#include "mrv/report/gauge.hpp"
#include "mrv/report/report.hpp"
#include "point_days.hpp"
#include "site_book.hpp"

namespace mrv::report {

class PointTrack {
 public:
  // Which ends of the period another period shares (back to back): a shared boundary takes
  // the reading closest to it on either side (both periods take the same one); an end
  // nobody shares takes only readings inside the period, so no energy from outside counts.
  struct Boundaries {
    bool start_shared = false, end_shared = false;
  };
  // `book`: the site records (manual readings, meter exchanges, calibrations), complete
  // before the first push; `window_to_ms`: the engine's window end.
  PointTrack(const MonitoringParameter& parameter, const PointConfig& point, int64_t interval_ms,
             const MonitoringPeriod& period, bool allow_interpolation, Boundaries boundaries, const SiteBook& book,
             int64_t window_from_ms, int64_t window_to_ms, const std::string& time_zone);
  const std::string& point_id() const { return point_.id; }
  // A reading record of this point inside the engine's window, with the config it names.
  void push(const RecordFields& record, const Config& record_config);
  // Its share in the parameter's unit; what was done and why goes to `notes`.
  PointReport finish(std::vector<std::string>& notes);
  // The site records it used (to count into the report's seqs).
  const std::vector<const SiteEntry*>& site_records_used() const { return used_; }

 private:
  struct Sample {
    CounterReading reading;
    double correction_percent = 0;  // 0: covered by a passing calibration
    bool out_of_calibration = false;
  };
  // A reading a person entered: a manual reading, or one side of a meter exchange.
  struct SiteSample {
    CounterReading reading;
    const SiteEntry* entry = nullptr;
    bool same_instant = false;  // the new meter's initial register, at the old one's final
  };
  std::optional<double> value_in_point_unit(const std::string& value, const std::string& unit);
  void use_meter_of(const Config& record_config);
  void use_point(const PointConfig& p);
  void prepare_site_samples(int64_t window_from_ms, int64_t window_to_ms);
  void inject_site_samples_before(int64_t ts_ms);
  // The serial of the meter a reading made under a config naming `config_serial` came
  // from: after a recorded exchange away from that serial, the new meter's.
  const std::string& serial_at(const std::string& config_serial, int64_t ts_ms) const;
  const CalibrationHistory& history_of(const std::string& serial);
  double correction_percent_at(int64_t ts_ms, const std::string& serial) { return history_of(serial).percent_at(ts_ms); }
  void accept(Sample s, bool in_period, bool same_instant);
  void fill_calibration(PointReport& out);
  void chart(const Sample& s);
  void counter_reading(const Sample& s);
  void counter_push(const Sample& s);
  void choose_start(const Sample& first_after);
  void choose_end(const Sample& first_after);
  BoundaryValue boundary_at(const Sample& s, int64_t boundary_ms) const;
  std::optional<Sample> interpolate(const Sample& before, const Sample& after, int64_t at_ms) const;
  void finish_counter(PointReport& out, std::vector<std::string>& notes);
  std::string lost_estimate(const CounterEvent& e) const;
  void finish_gauge(PointReport& out, std::vector<std::string>& notes);
  void fill_days_gauge(PointReport& out, const GaugeSummary& s, double factor) const;

  const MonitoringParameter& parameter_;
  const PointConfig& point_;
  Unit point_unit_, parameter_unit_;
  MonitoringPeriod period_;
  bool allow_interpolation_;
  Boundaries boundaries_;
  PointReport out_;

  std::string last_unit_;      // a record unit seen before, and its factor to the point's
  std::optional<double> last_unit_factor_;
  const Config* meter_config_ = nullptr;  // the record config the meter fields below are from
  std::string meter_serial_, meter_config_serial_;
  int64_t calibration_end_ms_ = 0;        // 0: no calibration date
  double permissible_percent_ = 100;      // the accuracy class (100 % when unknown)
  std::string time_zone_;
  const SiteBook& book_;
  const std::vector<const SiteEntry*>& exchanges_;  // of this point, in time order (serial_at per reading)
  std::vector<SiteSample> site_samples_;
  size_t next_site_sample_ = 0;
  std::vector<const SiteEntry*> used_;
  struct RejectedManual {
    const SiteEntry* entry;
    std::string expected_serial;
  };
  std::vector<RejectedManual> rejected_manual_;
  std::map<std::string, CalibrationHistory> histories_;  // by meter serial, for meter_config_
  const CalibrationHistory* last_history_ = nullptr;      // the one asked last, and its serial
  std::string last_history_serial_;

  int64_t last_ts_ = std::numeric_limits<int64_t>::min();
  // counter
  CounterAggregator counter_;
  std::optional<Sample> before_start_;  // the latest reading before the period
  std::optional<Sample> last_pushed_, last_real_;
  bool started_ = false, ended_ = false;
  PointDays days_;  // before gauge_: it cuts the gauge at the same midnights
  // gauge
  GaugeAggregator gauge_;
};

}  // namespace mrv::report
