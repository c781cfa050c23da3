#include "mrv/report/json.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "mrv/core/text_limits.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/report/format.hpp"

namespace mrv::report {
namespace {

using nlohmann::json;
constexpr const char* kFormat = "mrv-report/1";
// The members recomputable_part compares.
constexpr const char* kRecomputable[] = {"parameters", "results", "emission_reductions", "notes", "seqs",
                                         "cross_checks", "site_notes"};

const char* aggregation_name(Aggregation a) {
  switch (a) {
    case Aggregation::counter: return "counter";
    case Aggregation::integral: return "integral";
    case Aggregation::mean: return "mean";
    case Aggregation::min: return "min";
    case Aggregation::max: return "max";
    case Aggregation::fixed: return "fixed";
    case Aggregation::documents: return "documents";
  }
  return "?";
}

json decimal(double v) { return format_decimal(v); }
json optional_decimal(const std::optional<double>& v) { return v ? decimal(*v) : json(nullptr); }

json reading_json(const CounterReading& r) {
  json j = {{"seq", r.seq}, {"time", format_time(r.ts_ms)}, {"value", decimal(r.value)}};
  if (!r.meter_serial.empty()) j["meter_serial"] = r.meter_serial;
  return j;
}

json site_use_json(const SiteRecordUse& u) {
  return {{"seq", u.seq}, {"hash", u.hash_hex}, {"kind", u.kind}, {"point", u.point}, {"time", format_time(u.ts_ms)},
          {"summary", u.summary}, {"file_sha256", u.file_sha256}};
}

json site_uses_json(const std::vector<SiteRecordUse>& uses) {
  json a = json::array();
  for (const SiteRecordUse& u : uses) a.push_back(site_use_json(u));
  return a;
}

json calibration_json(const CalibrationCoverage& c) {
  return {{"stated", c.stated},
          {"covered_hours", format_decimal(c.covered_h, 4)},
          {"failed_hours", format_decimal(c.failed_h, 4)},
          {"expired_hours", format_decimal(c.expired_h, 4)},
          {"coverage", format_decimal(c.coverage, 4)},
          {"calibrations", site_uses_json(c.calibrations)}};
}

json boundary_json(const std::optional<BoundaryValue>& b) {
  if (!b) return nullptr;
  json j = {{"how", to_string(b->how)}, {"boundary", format_time(b->boundary_ms)}, {"value", decimal(b->value)}};
  if (b->how == BoundaryValue::How::interpolated) {
    j["before"] = reading_json(b->before);
    j["after"] = reading_json(b->after);
  } else {
    j["reading"] = reading_json(b->reading);
    j["distance_ms"] = b->distance_ms;
    j["far"] = b->far;
  }
  return j;
}

json point_json(const PointReport& p, Aggregation aggregation) {
  json gaps = json::array();
  for (const PointGap& g : p.gaps)
    gaps.push_back({{"from", format_time(g.from_ms)}, {"to", format_time(g.to_ms)},
                    {"hours", format_decimal(static_cast<double>(g.to_ms - g.from_ms) / 3'600'000.0, 4)},
                    {"rule", g.rule}, {"counted", decimal(g.counted)}, {"over_break", g.over_break},
                    {"explained_by", g.explained_by}});
  json j = {{"point", p.point_id}, {"unit", p.unit}, {"meter_serial", p.meter_serial},
            {"accuracy_class", p.accuracy_class}, {"calibration_valid_until", p.calibration_valid_until},
            {"interval_ms", p.interval_ms}, {"gap_limit_ms", p.gap_limit_ms}, {"readings", p.readings},
            {"expected_readings", p.expected_readings}, {"coverage", format_decimal(p.coverage, 4)},
            {"gap_hours", format_decimal(p.gap_hours, 4)}, {"covered_hours", format_decimal(p.covered_h, 4)},
            {"excluded_quality", p.excluded_quality}, {"excluded_unit", p.excluded_unit},
            {"out_of_order", p.out_of_order}, {"unsynchronised", p.unsynchronised},
            {"out_of_calibration", p.out_of_calibration}, {"value", decimal(p.value)},
            {"out_of_calibration_value", decimal(p.out_of_calibration_value)}, {"gaps", gaps},
            {"manual_readings", p.manual_readings}, {"calibration", calibration_json(p.calibration)}};
  if (aggregation == Aggregation::counter) {
    j["start"] = boundary_json(p.start);
    j["end"] = boundary_json(p.end);
    json segments = json::array(), events = json::array();
    for (const CounterSegment& s : p.segments)
      segments.push_back({{"first", reading_json(s.first)}, {"last", reading_json(s.last)}, {"counted", decimal(s.counted)}});
    for (const CounterEvent& e : p.events)
      events.push_back({{"kind", to_string(e.kind)}, {"before", reading_json(e.before)}, {"after", reading_json(e.after)}});
    j["segments"] = segments;
    j["events"] = events;
    j["exchanges"] = site_uses_json(p.exchanges);
  } else {
    j["mean"] = optional_decimal(p.mean);
    j["min"] = optional_decimal(p.min);
    j["max"] = optional_decimal(p.max);
  }
  return j;
}

// What backs a parameter's value, by hash: the cited source (A, ex-ante), the documents
// (B), the meters' calibration certificates (C).
json evidence_json(const ParameterReport& p) {
  const MonitoringParameter& c = *p.config;
  json a = json::array();
  if (c.aggregation == Aggregation::fixed) a.push_back({{"kind", "source"}, {"text", c.source}});
  for (const SiteRecordUse& d : p.documents)
    a.push_back({{"kind", "document"}, {"seq", d.seq}, {"record_hash", d.hash_hex}, {"file_sha256", d.file_sha256}});
  for (const PointReport& pt : p.points) {
    a.push_back({{"kind", "meter"}, {"point", pt.point_id}, {"meter_serial", pt.meter_serial}});
    for (const SiteRecordUse& cal : pt.calibration.calibrations)
      a.push_back({{"kind", "calibration"}, {"point", pt.point_id}, {"seq", cal.seq}, {"record_hash", cal.hash_hex},
                   {"file_sha256", cal.file_sha256}});
  }
  return a;
}

json parameter_json(const ParameterReport& p) {
  const MonitoringParameter& c = *p.config;
  json j = {{"id", c.id}, {"description", c.description}, {"unit", c.unit},
            {"aggregation", aggregation_name(c.aggregation)}, {"monitoring_option", c.monitoring_option},
            {"measured", decimal(p.measured)}, {"correction", decimal(p.correction)}, {"value", decimal(p.value)},
            {"has_data", p.has_data}, {"informational", p.informational}, {"notes", p.notes}};
  j["evidence"] = evidence_json(p);
  if (c.aggregation == Aggregation::fixed) {
    j["source"] = c.source;
    return j;
  }
  if (c.aggregation == Aggregation::documents) {
    j["coverage"] = format_decimal(p.coverage, 4);
    j["documents"] = site_uses_json(p.documents);
    return j;
  }
  j["coverage"] = format_decimal(p.coverage, 4);
  if (c.aggregation == Aggregation::integral) {
    j["gap_rule"] = c.gap_rule == GapRule::substitute ? "substitute" : "zero";
    if (c.gap_rule == GapRule::substitute) j["substitute"] = decimal(c.substitute);
  }
  json points = json::array();
  for (const PointReport& pt : p.points) points.push_back(point_json(pt, c.aggregation));
  j["points"] = points;
  return j;
}

// ER to 6 decimals, but never rounded up across a whole tonne: ⌊value_tco2⌋ is then the
// credited tonnes, as ROUNDDOWN of the exact value gives them (2567.9999996 shows as
// 2567.999999, not 2568).
std::string er_text(double er) {
  double shown = std::round(er * 1e6) / 1e6;
  if (er > 0 && std::floor(shown) > std::floor(er)) return format_decimal(std::floor(er), 0) + ".999999";
  return format_decimal(er);
}

json cross_checks_json(const Report& r) {
  json a = json::array();
  for (const CrossCheckResult& x : r.cross_checks)
    a.push_back({{"id", x.config->id}, {"description", x.config->description}, {"value_id", x.config->value},
                 {"value", optional_decimal(x.value)}, {"reference_id", x.config->reference},
                 {"reference", optional_decimal(x.reference)},
                 {"difference_percent", format_decimal(x.difference_percent, 4)},
                 {"tolerance_percent", format_decimal(x.config->tolerance_percent, 4)}, {"pass", x.pass}});
  return a;
}

json recomputable_json(const Report& r) {
  json parameters = json::array(), results = json::array();
  for (const ParameterReport& p : r.parameters) parameters.push_back(parameter_json(p));
  for (const FormulaResult& f : r.results)
    results.push_back({{"id", f.config->id}, {"expression", f.config->expression}, {"unit", f.config->unit},
                       {"value", f.evaluated ? json(decimal(f.value)) : json(nullptr)}});
  return {{"parameters", parameters},
          {"results", results},
          {"emission_reductions",
           {{"formula", r.monitoring->emission_reductions}, {"value_tco2", er_text(r.emission_reductions)},
            {"credited_tco2", r.credited_tco2}, {"complete", r.complete}}},
          {"notes", r.notes},
          {"cross_checks", cross_checks_json(r)},
          {"site_notes", site_uses_json(r.site_notes)},
          {"seqs", {{"first", r.seqs.first}, {"last", r.seqs.last}, {"records", r.seqs.records}}}};
}

json pick_recomputable(const json& report) {
  json j = json::object();
  for (const char* key : kRecomputable)
    if (report.contains(key)) j[key] = report[key];
  return j;
}

}  // namespace

std::string report_canonical(const Report& r) {
  json j = recomputable_json(r);
  j["format"] = kFormat;
  j["site_id"] = r.site_id;
  j["methodology"] = {{"id", r.monitoring->methodology}, {"version", r.monitoring->version}};
  const PeriodFacts& f = r.period_facts;
  j["period"] = {{"name", r.period.name},
                 {"start", format_time(r.period.start_ms)},
                 {"end", format_time(r.period.end_ms)},
                 {"time_zone", f.time_zone},
                 {"first_local_date", f.first_local_date},
                 {"last_local_date", f.last_local_date},
                 {"local_dates", f.jcm_dates},
                 {"previous_period", f.previous_period.empty() ? json(nullptr) : json(f.previous_period)},
                 {"back_to_back", f.back_to_back}};
  j["crediting_period"] = f.crediting_period ? json{{"start", format_time(f.crediting_period->start_ms)},
                                                    {"end", format_time(f.crediting_period->end_ms)},
                                                    {"local_dates", f.crediting_jcm_dates}}
                                             : json(nullptr);
  j["window"] = {{"from", format_time(r.window_from_ms)}, {"to", format_time(r.window_to_ms)}};
  j["generated_at"] = format_time(r.generated_ms);
  j["config"] = {{"sha256", r.config_hash_hex}, {"text", r.config_text}};
  json lines = json::array();
  for (const RecordLine& l : r.site_records)
    lines.push_back({{"seq", l.seq}, {"record", l.record}, {"hash", l.hash_hex}, {"signature", l.signature_b64}});
  j["site_records"] = {{"through_seq", r.site_records_through}, {"lines", lines}};
  j["annex"] = {{"end_checkpoint", r.annex.end_checkpoint},
                {"previous_checkpoint", r.annex.previous_checkpoint},
                {"consistency_proof", r.annex.consistency_proof_hex}};
  return j.dump();
}

std::string signed_report_json(std::string_view canonical, const ReportSignature& s) {
  json j = json::parse(canonical);
  j["signature"] = {{"algorithm", s.algorithm}, {"key_id", s.key_id_hex}, {"value", s.value_b64}};
  return j.dump(2) + "\n";
}

std::string recomputable_part(const Report& r) { return recomputable_json(r).dump(); }

Result<SignedReport> parse_signed_report(std::string_view text) {
  auto bad = [](std::string what) { return tl::unexpected(Error{ErrorCode::invalid_argument, "report", std::move(what)}); };
  // Reports come from other machines (uploads, bundles); dump() below recurses per level.
  if (auto shallow = check_json_limits(text); !shallow) return bad(shallow.error().message);
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return bad("not a JSON object");
  if (j.value("format", "") != kFormat) return bad("format is not " + std::string(kFormat));
  try {
    SignedReport r;
    const json& sig = j.at("signature");
    r.signature = {sig.at("algorithm").get<std::string>(), sig.at("key_id").get<std::string>(),
                   sig.at("value").get<std::string>()};
    j.erase("signature");
    r.canonical = j.dump();
    r.site_id = j.at("site_id").get<std::string>();
    r.period_name = j.at("period").at("name").get<std::string>();
    auto start = parse_time_ms(j.at("period").at("start").get<std::string>());
    auto end = parse_time_ms(j.at("period").at("end").get<std::string>());
    auto from = parse_time_ms(j.at("window").at("from").get<std::string>());
    auto to = parse_time_ms(j.at("window").at("to").get<std::string>());
    if (!start || !end || !from || !to) return bad("a period or window time is not a time");
    r.period_start_ms = *start;
    r.period_end_ms = *end;
    r.window_from_ms = *from;
    r.window_to_ms = *to;
    r.config_sha256 = j.at("config").at("sha256").get<std::string>();
    r.config_text = j.at("config").at("text").get<std::string>();
    r.computed = pick_recomputable(j).dump();
    const json& annex = j.at("annex");
    r.annex.end_checkpoint = annex.at("end_checkpoint").get<std::string>();
    r.annex.previous_checkpoint = annex.at("previous_checkpoint").get<std::string>();
    r.annex.consistency_proof_hex = annex.at("consistency_proof").get<std::vector<std::string>>();
    const json& seqs = j.at("seqs");
    r.seqs = {seqs.at("first").get<uint64_t>(), seqs.at("last").get<uint64_t>(), seqs.at("records").get<uint64_t>()};
    if (j.contains("site_records")) {  // reports made before site records had none
      const json& site = j.at("site_records");
      r.site_records_through = site.at("through_seq").get<uint64_t>();
      for (const json& l : site.at("lines"))
        r.site_records.push_back({l.at("seq").get<uint64_t>(), l.at("record").get<std::string>(),
                                  l.at("hash").get<std::string>(), l.at("signature").get<std::string>()});
    }
    return r;
  } catch (const json::exception& e) {
    return bad(std::string("missing or mistyped member: ") + e.what());
  }
}

}  // namespace mrv::report
