#include "xlsx_detail.hpp"

#include <algorithm>
#include <cassert>
#include <string>
#include <vector>

#include "mrv/core/time_zone.hpp"
#include "mrv/report/format.hpp"

namespace mrv::report::xlsx {
namespace {

// After a section's rows: says "none" when it had none, so an empty table reads as such.
void none_if_empty(Sheet& s, uint32_t first_row) {
  if (s.row() != first_row) return;
  s.text(0, "none");
  s.next();
}

constexpr const char* kDaily = "Daily";
// The daily sheet's first day row: a title, its note, a blank row, the points' labels and
// the column headers come before it (write_daily checks it).
constexpr uint32_t kFirstDayRow = 5;

// One point of one measured parameter, and its columns on the daily sheet.
struct PointColumns {
  const ParameterReport* parameter;
  const PointReport* point;
  bool counter = false, integral = false;
  uint16_t first = 0;  // its first column
  uint16_t readings() const { return first; }
  uint16_t value() const { return first + 5; }       // counter and integral
  uint16_t mean() const { return first + 1; }        // gauge
  uint16_t min() const { return first + 2; }
  uint16_t max() const { return first + 3; }
  uint16_t gap_hours() const { return first + 6; }
  static constexpr uint16_t kWidth = 7;
};

std::vector<PointColumns> point_columns(const Report& r) {
  std::vector<PointColumns> cols;
  uint16_t next = 1;
  for (const ParameterReport& p : r.parameters)
    for (const PointReport& pt : p.points) {
      PointColumns c{&p, &pt};
      c.counter = p.config->aggregation == Aggregation::counter;
      c.integral = p.config->aggregation == Aggregation::integral;
      c.first = next;
      next += PointColumns::kWidth;
      cols.push_back(c);
    }
  return cols;
}

std::string group_label(const PointColumns& c) {
  return c.parameter->config->id + ": " + c.point->point_id + " (" + c.point->unit + "; value in " +
         c.parameter->config->unit + ")";
}

// Daily: one row per local day; the first and last readings name their seqs, so a
// verifier finds them in the bundle.
void write_daily(lxw_workbook* wb, const Formats& f, const Report& r, const std::vector<PointColumns>& cols) {
  Sheet s(wb, f, kDaily);
  s.heading("Per day (" + r.period_facts.time_zone + ")",
            "Each point per local calendar day: its first and last signed readings (by seq, to sample against the "
            "bundle), its share of the parameter, and the hours in gaps. Counter days sum to the point's value.");
  s.width(0, 0, 12);
  s.width(1, static_cast<uint16_t>(1 + cols.size() * PointColumns::kWidth), 14);
  s.next();
  for (const PointColumns& c : cols) s.text(c.first, group_label(c), f.label);
  s.next();
  s.text(0, "Date", f.header);
  for (const PointColumns& c : cols) {
    if (c.counter)
      s.headers({"Readings", "First register", "First seq", "Last register", "Last seq", "Value", "Gap h"}, c.first);
    else
      s.headers({"Readings", "Mean", "Min", "Max", "Last seq", c.integral ? "Value" : "-", "Gap h"}, c.first);
  }
  s.next();
  worksheet_freeze_panes(s.raw(), s.row(), 1);
  const uint32_t first_day_row = s.row();
  assert(first_day_row == kFirstDayRow);
  const size_t days = cols.empty() ? 0 : cols.front().point->days.size();
  for (size_t d = 0; d < days; ++d) {
    s.text(0, cols.front().point->days[d].date);
    for (const PointColumns& c : cols) {
      if (d >= c.point->days.size()) continue;
      const DayValue& day = c.point->days[d];
      s.integer(c.readings(), static_cast<int64_t>(day.readings));
      if (c.counter) {
        if (day.first) s.number(c.first + 1, day.first->value), s.seq(c.first + 2, day.first->seq);
        if (day.last) s.number(c.first + 3, day.last->value), s.seq(c.first + 4, day.last->seq);
      } else {
        if (day.mean) s.number(c.mean(), *day.mean, f.rounded);
        if (day.min) s.number(c.min(), *day.min);
        if (day.max) s.number(c.max(), *day.max);
        if (day.last) s.seq(c.first + 4, day.last->seq);
      }
      if (c.counter || c.integral) s.number(c.value(), day.value);
      s.number(c.gap_hours(), day.gap_hours);
    }
    s.next();
  }
  if (days == 0) return;
  const uint32_t last = first_day_row + static_cast<uint32_t>(days) - 1;
  s.text(0, "Total", f.label);
  for (const PointColumns& c : cols) {
    double readings = 0, value = 0, gaps = 0;
    for (const DayValue& day : c.point->days) readings += static_cast<double>(day.readings), value += day.value, gaps += day.gap_hours;
    s.formula(c.readings(), "=SUM(" + range_ref(first_day_row, last, c.readings()) + ")", readings, f.integer);
    if (c.counter || c.integral) s.formula(c.value(), "=SUM(" + range_ref(first_day_row, last, c.value()) + ")", value);
    s.formula(c.gap_hours(), "=SUM(" + range_ref(first_day_row, last, c.gap_hours()) + ")", gaps);
  }
  s.next();
  s.text(0, "In the report", f.label);
  for (const PointColumns& c : cols) {
    s.integer(c.readings(), static_cast<int64_t>(c.point->readings));
    if (c.counter || c.integral) s.number(c.value(), c.point->value);
    s.number(c.gap_hours(), c.point->gap_hours);
  }
  s.next();
}

// Monthly: each calendar month a live sum (min, max) of its days on the daily sheet.
void write_monthly(lxw_workbook* wb, const Formats& f, const Report& r, const std::vector<PointColumns>& cols) {
  const uint32_t first_day_row = kFirstDayRow;
  const size_t days = cols.empty() ? 0 : cols.front().point->days.size();
  // First a column per summed parameter (counter, integral): the sum of its points' months.
  struct Summed {
    const ParameterReport* parameter;
    std::vector<size_t> points;  // indexes into cols
  };
  std::vector<Summed> summed;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (!cols[i].counter && !cols[i].integral) continue;
    if (summed.empty() || summed.back().parameter != cols[i].parameter) summed.push_back({cols[i].parameter, {}});
    summed.back().points.push_back(i);
  }
  Sheet s(wb, f, "Monthly");
  s.heading("Per calendar month (" + r.period_facts.time_zone + ")",
            "Each parameter summed from its points, and each point, per month of the period in site time: live sums "
            "of the Daily sheet's rows (measured: before any calibration correction).");
  s.width(0, 0, 12);
  s.width(1, static_cast<uint16_t>(1 + summed.size() + cols.size() * 5), 14);
  s.next();
  // Then per point: readings, value, min, max, gap hours.
  const size_t first_point_col = 1 + summed.size();
  auto mcol = [&](size_t i, int k) { return static_cast<uint16_t>(first_point_col + i * 5 + k); };
  for (size_t j = 0; j < summed.size(); ++j)
    s.text(static_cast<uint16_t>(1 + j), summed[j].parameter->config->id + " (" + summed[j].parameter->config->unit + ")",
           f.label);
  for (size_t i = 0; i < cols.size(); ++i) s.text(mcol(i, 0), group_label(cols[i]), f.label);
  s.next();
  s.text(0, "Month", f.header);
  for (size_t j = 0; j < summed.size(); ++j) s.headers({"Measured"}, static_cast<uint16_t>(1 + j));
  for (size_t i = 0; i < cols.size(); ++i)
    s.headers({"Readings", cols[i].counter || cols[i].integral ? "Value" : "-", "Min", "Max", "Gap h"}, mcol(i, 0));
  s.next();
  auto parameter_cells = [&](const Summed& p, double cached) {
    std::string sum;
    for (size_t i : p.points) sum += (sum.empty() ? "=" : "+") + cell_ref(s.row(), mcol(i, 1));
    return std::pair{sum, cached};
  };
  if (days == 0) return;
  const std::vector<DayValue>& dates = cols.front().point->days;
  const uint32_t months_first = s.row();
  for (size_t d = 0; d < days;) {
    const std::string month = dates[d].date.substr(0, 7);
    size_t end = d;
    while (end < days && dates[end].date.compare(0, 7, month) == 0) ++end;
    const uint32_t from = first_day_row + static_cast<uint32_t>(d), to = first_day_row + static_cast<uint32_t>(end - 1);
    s.text(0, month);
    for (size_t i = 0; i < cols.size(); ++i) {
      const PointColumns& c = cols[i];
      double readings = 0, value = 0, gaps = 0;
      std::optional<double> lo, hi;
      for (size_t k = d; k < end && k < c.point->days.size(); ++k) {
        const DayValue& day = c.point->days[k];
        readings += static_cast<double>(day.readings), value += day.value, gaps += day.gap_hours;
        if (day.min) lo = std::min(lo.value_or(*day.min), *day.min);
        if (day.max) hi = std::max(hi.value_or(*day.max), *day.max);
      }
      s.formula(mcol(i, 0), "=SUM(" + range_ref(from, to, c.readings(), kDaily) + ")", readings, f.integer);
      if (c.counter || c.integral)
        s.formula(mcol(i, 1), "=SUM(" + range_ref(from, to, c.value(), kDaily) + ")", value);
      if (!c.counter && lo) s.formula(mcol(i, 2), "=MIN(" + range_ref(from, to, c.min(), kDaily) + ")", *lo);
      if (!c.counter && hi) s.formula(mcol(i, 3), "=MAX(" + range_ref(from, to, c.max(), kDaily) + ")", *hi);
      s.formula(mcol(i, 4), "=SUM(" + range_ref(from, to, c.gap_hours(), kDaily) + ")", gaps);
    }
    for (size_t j = 0; j < summed.size(); ++j) {
      double cached = 0;
      for (size_t i : summed[j].points)
        for (size_t k = d; k < end && k < cols[i].point->days.size(); ++k) cached += cols[i].point->days[k].value;
      auto [formula, value] = parameter_cells(summed[j], cached);
      s.formula(static_cast<uint16_t>(1 + j), formula, value);
    }
    s.next();
    d = end;
  }
  const uint32_t months_last = s.row() - 1;
  s.text(0, "Total", f.label);
  for (size_t i = 0; i < cols.size(); ++i) {
    const PointColumns& c = cols[i];
    s.formula(mcol(i, 0), "=SUM(" + range_ref(months_first, months_last, mcol(i, 0)) + ")",
              static_cast<double>(c.point->readings), f.integer);
    if (c.counter || c.integral)
      s.formula(mcol(i, 1), "=SUM(" + range_ref(months_first, months_last, mcol(i, 1)) + ")", c.point->value);
    s.formula(mcol(i, 4), "=SUM(" + range_ref(months_first, months_last, mcol(i, 4)) + ")", c.point->gap_hours);
  }
  for (size_t j = 0; j < summed.size(); ++j) {
    const auto col = static_cast<uint16_t>(1 + j);
    s.formula(col, "=SUM(" + range_ref(months_first, months_last, col) + ")", summed[j].parameter->measured);
  }
  s.next();
}

void write_calibration(lxw_workbook* wb, const Formats& f, const Report& r, const TimeZone& zone) {
  Sheet s(wb, f, "Calibration");
  s.heading("Calibration of the meters",
            "Per point: the hours of the period its meter was covered by a passing calibration, and the recorded "
            "calibrations (site records) that decided it. A reading out of calibration is corrected against the "
            "project (Gaps and corrections).");
  s.width(0, 1, 18);
  s.width(2, 11, 15);
  s.next();
  s.headers({"Parameter", "Point", "Meter serial", "Accuracy class", "Valid until (config)", "Coverage", "Covered h",
             "Failed h", "Expired h", "Readings out of calibration", "Part out of calibration", "Correction"});
  s.next();
  for (const ParameterReport& p : r.parameters)
    for (const PointReport& pt : p.points) {
      s.text(0, p.config->id, f.label);
      s.text(1, pt.point_id);
      s.text(2, pt.meter_serial);
      s.text(3, pt.accuracy_class.empty() ? "unknown" : pt.accuracy_class);
      s.text(4, pt.calibration_valid_until);
      if (pt.calibration.stated) s.number(5, pt.calibration.coverage, f.percent);
      else s.text(5, "not stated");
      s.number(6, pt.calibration.covered_h);
      s.number(7, pt.calibration.failed_h);
      s.number(8, pt.calibration.expired_h);
      s.integer(9, static_cast<int64_t>(pt.out_of_calibration));
      s.number(10, pt.out_of_calibration_value);
      s.number(11, pt.correction_magnitude);
      s.next();
    }
  s.next();
  s.text(0, "Recorded calibrations", f.label);
  s.next();
  s.headers({"Point", "Seq", "Time (local)", "What the record says", "Certificate SHA-256", "Record hash"});
  s.next();
  const uint32_t first_calibration = s.row();
  for (const ParameterReport& p : r.parameters)
    for (const PointReport& pt : p.points)
      for (const SiteRecordUse& c : pt.calibration.calibrations) {
        s.text(0, pt.point_id);
        s.seq(1, c.seq);
        s.text(2, zone.local_minute(c.ts_ms));
        s.text(3, c.summary);
        s.text(4, c.file_sha256);
        s.text(5, c.hash_hex);
        s.next();
      }
  none_if_empty(s, first_calibration);
}

void write_gaps(lxw_workbook* wb, const Formats& f, const Report& r, const TimeZone& zone) {
  Sheet s(wb, f, "Gaps and corrections");
  s.heading("Gaps, breaks, boundary values and corrections (" + r.period_facts.time_zone + ")",
            "Everything the report did beyond summing readings, and why.");
  s.width(0, 1, 18);
  s.width(2, 9, 17);
  s.next();
  s.text(0, "Gaps", f.label);
  s.next();
  s.headers({"Parameter", "Point", "From (local)", "To (local)", "Hours", "Rule", "Counted", "Across a break",
             "Explained by (site note seqs)"});
  s.next();
  const uint32_t first_gap = s.row();
  for (const ParameterReport& p : r.parameters)
    for (const PointReport& pt : p.points)
      for (const PointGap& g : pt.gaps) {
        s.text(0, p.config->id, f.label);
        s.text(1, pt.point_id);
        s.text(2, zone.local_minute(g.from_ms));
        s.text(3, zone.local_minute(g.to_ms));
        s.number(4, static_cast<double>(g.to_ms - g.from_ms) / 3'600'000.0);
        s.text(5, g.rule);
        s.number(6, g.counted);
        s.text(7, g.over_break ? "yes" : "no");
        std::string seqs;
        for (uint64_t q : g.explained_by) seqs += (seqs.empty() ? "" : ", ") + std::to_string(q);
        s.text(8, seqs.empty() ? "not explained" : seqs);
        s.next();
      }
  none_if_empty(s, first_gap);
  s.next();
  s.text(0, "Breaks of a counter", f.label);
  s.next();
  s.headers({"Parameter", "Point", "Kind", "Before (local)", "Before seq", "Before value", "After (local)", "After seq",
             "After value"});
  s.next();
  const uint32_t first_break = s.row();
  for (const ParameterReport& p : r.parameters)
    for (const PointReport& pt : p.points)
      for (const CounterEvent& e : pt.events) {
        s.text(0, p.config->id, f.label);
        s.text(1, pt.point_id);
        s.text(2, to_string(e.kind));
        s.text(3, zone.local_minute(e.before.ts_ms));
        s.seq(4, e.before.seq);
        s.number(5, e.before.value);
        s.text(6, zone.local_minute(e.after.ts_ms));
        s.seq(7, e.after.seq);
        s.number(8, e.after.value);
        s.next();
      }
  none_if_empty(s, first_break);
  s.next();
  s.text(0, "Boundary registers", f.label);
  s.next();
  s.headers({"Parameter", "Point", "Boundary", "How", "Reading seq", "Reading (local)", "Value", "Distance",
             "Further than the gap limit"});
  s.next();
  const uint32_t first_boundary = s.row();
  for (const ParameterReport& p : r.parameters)
    for (const PointReport& pt : p.points)
      for (const auto* b : {&pt.start, &pt.end}) {
        if (!*b) continue;
        s.text(0, p.config->id, f.label);
        s.text(1, pt.point_id);
        s.text(2, b == &pt.start ? "start" : "end");
        s.text(3, to_string((*b)->how));
        if ((*b)->how == BoundaryValue::How::reading) {
          s.seq(4, (*b)->reading.seq);
          s.text(5, zone.local_minute((*b)->reading.ts_ms));
        }
        s.number(6, (*b)->value);
        s.text(7, format_duration((*b)->distance_ms));
        s.text(8, (*b)->far ? "yes" : "no");
        s.next();
      }
  none_if_empty(s, first_boundary);
  s.next();
  s.text(0, "Corrections and notes per parameter", f.label);
  s.next();
  s.headers({"Parameter", "Measured", "Correction", "Value used", "Unit", "Notes"});
  s.next();
  for (const ParameterReport& p : r.parameters) {
    s.text(0, p.config->id, f.label);
    s.number(1, p.measured);
    s.number(2, p.correction);
    s.number(3, p.value);
    s.text(4, p.config->unit);
    std::string notes;
    for (const auto& n : p.notes) notes += (notes.empty() ? "" : "\n") + n;
    s.text(5, notes);
    s.next();
  }
  s.next();
  s.text(0, "Site notes about the period", f.label);
  s.next();
  s.headers({"Seq", "Time (local)", "What the note says", "Record hash"});
  s.next();
  const uint32_t first_note = s.row();
  for (const SiteRecordUse& n : r.site_notes) {
    s.seq(0, n.seq);
    s.text(1, zone.local_minute(n.ts_ms));
    s.text(2, n.summary);
    s.text(3, n.hash_hex);
    s.next();
  }
  none_if_empty(s, first_note);
  s.next();
  s.text(0, "Report notes", f.label);
  s.next();
  for (const std::string& n : r.notes) {
    s.text(0, n, f.note);
    s.next();
  }
}

}  // namespace

Result<void> write_detail_sheets(lxw_workbook* wb, const Formats& f, const Report& r) {
  const TimeZone zone = TimeZone::locate(r.period_facts.time_zone).value_or(TimeZone::utc());
  const std::vector<PointColumns> cols = point_columns(r);
  write_monthly(wb, f, r, cols);  // sheets stand in the order they are made: months before days
  write_daily(wb, f, r, cols);
  write_calibration(wb, f, r, zone);
  write_gaps(wb, f, r, zone);
  return {};
}

}  // namespace mrv::report::xlsx
