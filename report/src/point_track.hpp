#pragma once
// One point of one parameter while a report is computed: its readings go in one by one
// (seq order), its share of the parameter comes out (engine.hpp states the rules).
#include <optional>
#include <string>
#include <vector>

#include "mrv/core/config.hpp"
#include "mrv/core/reading.hpp"
#include "mrv/core/units.hpp"
#include "mrv/report/counter.hpp"
#include "mrv/report/gauge.hpp"
#include "mrv/report/report.hpp"

namespace mrv::report {

class PointTrack {
 public:
  // Which ends of the period another period shares (back to back): a shared boundary takes
  // the reading closest to it on either side (both periods take the same one); an end
  // nobody shares takes only readings inside the period, so no energy from outside counts.
  struct Boundaries {
    bool start_shared = false, end_shared = false;
  };
  PointTrack(const MonitoringParameter& parameter, const PointConfig& point, int64_t interval_ms,
             const MonitoringPeriod& period, bool allow_interpolation, Boundaries boundaries);
  const std::string& point_id() const { return point_.id; }
  // A reading record of this point inside the engine's window, with the config it names.
  void push(const RecordFields& record, const Config& record_config);
  // Its share in the parameter's unit; what was done and why goes to `notes`.
  PointReport finish(std::vector<std::string>& notes);

 private:
  struct Sample {
    CounterReading reading;
    bool out_of_calibration = false;
  };
  std::optional<double> value_in_point_unit(const Reading& r);
  void use_meter_of(const Config& record_config);
  void chart(const Sample& s);
  void counter_reading(const Sample& s);
  void counter_push(const Sample& s);
  void choose_start(const Sample& first_after);
  void choose_end(const Sample& first_after);
  BoundaryValue boundary_at(const Sample& s, int64_t boundary_ms) const;
  std::optional<Sample> interpolate(const Sample& before, const Sample& after, int64_t at_ms) const;
  void finish_counter(PointReport& out, std::vector<std::string>& notes);
  void finish_gauge(PointReport& out, std::vector<std::string>& notes);

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
  std::string meter_serial_;
  int64_t calibration_end_ms_ = 0;        // 0: no calibration date

  int64_t last_ts_ = std::numeric_limits<int64_t>::min();
  // counter
  CounterAggregator counter_;
  std::optional<Sample> before_start_;  // the latest reading before the period
  std::optional<Sample> last_pushed_, last_real_;
  bool started_ = false, ended_ = false;
  // gauge
  GaugeAggregator gauge_;
};

}  // namespace mrv::report
