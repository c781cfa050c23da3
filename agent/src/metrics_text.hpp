#pragma once
// GET /metrics: the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/). PrometheusText writes
// families (# HELP, # TYPE, samples) with escaped label values and help text;
// render_metrics() maps an AgentStatus onto the families docs/operations.md lists.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "agent_status.hpp"
#include "mrv/core/histogram.hpp"

namespace mrv::agent {

class PrometheusText {
 public:
  using Label = std::pair<std::string_view, std::string_view>;  // name (a valid label name), value (any text)
  using Labels = std::initializer_list<Label>;

  // Starts a family: type is counter, gauge or histogram. A counter's name ends in _total.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, double value);
  void sample(std::string_view name, Labels labels, uint64_t value);
  // A family with one unlabelled sample (double or uint64_t).
  template <typename Value>
  void single(std::string_view name, std::string_view type, std::string_view help, Value value);
  // A whole histogram family: _bucket{le} cumulative, +Inf, _sum and _count.
  void histogram(std::string_view name, std::string_view help, const LatencyHistogram& h);
  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void labels(Labels labels);
  std::string out_;
};

// "a\"b\\c\nd" as a label value inside the quotes: \ " and newline escaped.
std::string escape_label_value(std::string_view value);
// A sample value: the shortest digits that read back the same, fixed from 1e-4 to 1e15
// ("0.0005", "1767225000.25", "3"), scientific beyond ("1e-05"); +Inf, -Inf and NaN as
// the format spells them.
std::string format_value(double value);

std::string render_metrics(const AgentStatus& status);

}  // namespace mrv::agent
