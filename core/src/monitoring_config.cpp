// The [monitoring] section of the agent's config: the methodology, its parameters and
// formulas, and the periods. Validated whole at load: units parse and match what each
// aggregation makes of its points, and every formula compiles to its declared unit.
#include <regex>
#include <set>
#include <sstream>
#include <tuple>

#include "config_reader.hpp"
#include "mrv/core/formula.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/core/time_zone.hpp"
#include "mrv/core/units.hpp"

namespace mrv {
namespace {

bool is_symbol(const std::string& s) {
  static const std::regex kSymbol("[A-Za-z_][A-Za-z0-9_]{0,63}");
  return std::regex_match(s, kSymbol);
}

// A TOML offset date-time, a date (midnight in the site's time zone) or a string
// TimeZone::parse_time takes.
std::optional<int64_t> read_time(ConfigReader& r, const toml::table& t, const std::string& path, const char* key,
                                 const TimeZone& zone) {
  const toml::node* n = t.get(key);
  if (!n) {
    r.error(&t, path + "." + key, "missing required key");
    return std::nullopt;
  }
  std::string text;
  if (auto s = n->value<std::string>()) {
    text = *s;
  } else if (n->is_date_time() || n->is_date()) {
    if (n->is_date_time() && !n->as_date_time()->get().offset) {
      r.error(n, path + "." + key, "a date-time needs its offset (Z or +hh:mm): periods are fixed in UTC");
      return std::nullopt;
    }
    std::ostringstream ss;
    if (n->is_date_time()) ss << n->as_date_time()->get();
    else ss << n->as_date()->get();
    text = ss.str();
  } else {
    r.error(n, path + "." + key, "must be a date-time (2026-10-01T00:00:00+08:00) or a date");
    return std::nullopt;
  }
  auto ms = zone.parse_time(text);
  if (!ms) {
    r.error(n, path + "." + key, ms.error().message);
    return std::nullopt;
  }
  return *ms;
}

std::optional<double> read_number(ConfigReader& r, const toml::table& t, const std::string& path, const char* key) {
  const toml::node* n = t.get(key);
  if (!n) return std::nullopt;
  if (auto d = n->value<double>()) return *d;  // integers too
  r.error(n, path + "." + key, "must be a number");
  return std::nullopt;
}

// What the aggregation makes of a point's unit: a counter's difference and a mean keep
// it; a time integral multiplies it by time.
std::array<int, kBaseQuantities> aggregated_dimension(Aggregation a, const Unit& point) {
  auto d = point.dimension;
  if (a == Aggregation::integral) d[1] += 1;
  return d;
}

// What the JCM workbook's Table 1 or 2 row says besides the value. A monitoring point's
// number names one row of the PDD's monitoring structure: no two parameters share one.
void read_workbook_texts(ConfigReader& r, const toml::table& t, const std::string& path, MonitoringParameter& p,
                         std::set<std::string>& points_seen) {
  p.monitoring_point = r.string(t, path, "monitoring_point", false);
  if (!p.monitoring_point.empty() && !points_seen.insert(p.monitoring_point).second)
    r.error(t.get("monitoring_point"), path + ".monitoring_point",
            "monitoring point '" + p.monitoring_point + "' is given to another parameter already");
  p.measurement_methods = r.string(t, path, "measurement_methods", false);
  p.monitoring_frequency = r.string(t, path, "monitoring_frequency", false);
  p.comments = r.string(t, path, "comments", false);
}

void read_parameters(ConfigReader& r, const toml::table& m, Config& c, std::map<std::string, Unit>& units) {
  std::set<std::string> mc_points_seen;
  const toml::array* arr = r.array_of_tables(m, "monitoring", "parameters");
  if (!arr) {
    r.error(&m, "monitoring.parameters", "at least one [[monitoring.parameters]] entry is required");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "monitoring.parameters[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"id", "description", "unit", "aggregation", "point", "points", "value", "source",
                          "monitoring_option", "gap_rule", "substitute", "document_type", "monitoring_point",
                          "measurement_methods", "monitoring_frequency", "comments"});
    MonitoringParameter p;
    p.id = r.string(t, path, "id", true);
    if (!p.id.empty() && !is_symbol(p.id))
      r.error(t.get("id"), path + ".id", "'" + p.id + "' must be a symbol: a letter or _, then letters, digits, _");
    if (!p.id.empty() && units.count(p.id)) r.error(t.get("id"), path + ".id", "duplicate parameter id '" + p.id + "'");
    p.description = r.string(t, path, "description", false);
    read_workbook_texts(r, t, path, p, mc_points_seen);
    p.unit = r.string(t, path, "unit", true);
    auto unit = parse_unit(p.unit);
    if (!unit) r.error(t.get("unit"), path + ".unit", unit.error().message);
    std::string aggregation =
        r.choice(t, path, "aggregation", {"counter", "integral", "mean", "min", "max", "fixed", "documents"}, "counter");
    p.aggregation = aggregation == "integral" ? Aggregation::integral
                    : aggregation == "mean"   ? Aggregation::mean
                    : aggregation == "min"    ? Aggregation::min
                    : aggregation == "max"    ? Aggregation::max
                    : aggregation == "fixed"  ? Aggregation::fixed
                    : aggregation == "documents" ? Aggregation::documents
                                              : Aggregation::counter;
    const bool fixed = p.aggregation == Aggregation::fixed, documents = p.aggregation == Aggregation::documents;
    p.monitoring_option =
        r.choice(t, path, "monitoring_option", {"A", "B", "C", "ex-ante"}, fixed ? "ex-ante" : documents ? "B" : "C");
    // JCM's options say where a value comes from; the aggregation must be that place.
    const std::string& option = p.monitoring_option;
    if (fixed && option != "A" && option != "ex-ante")
      r.error(t.get("monitoring_option"), path + ".monitoring_option",
              "a fixed value is public data (\"A\", with its source) or fixed ex ante (\"ex-ante\"); option B takes "
              "its value from recorded documents (aggregation = \"documents\"), C from the project's meters");
    if (documents && option != "B")
      r.error(t.get("monitoring_option"), path + ".monitoring_option", "a value from recorded documents is option B");
    if (!fixed && !documents && option != "C")
      r.error(t.get("monitoring_option"), path + ".monitoring_option",
              "a value measured by the project's meters is option C (A: a fixed public value; B: aggregation = "
              "\"documents\", from recorded invoices)");
    if (documents) {
      if (t.get("point") || t.get("points")) r.error(&t, path + ".points", "a parameter from documents reads no points");
      p.document_type = r.choice(t, path, "document_type", {"invoice", "sales-statement", "other", ""}, "");
    } else if (fixed) {
      auto v = read_number(r, t, path, "value");
      if (!v) r.error(&t, path + ".value", "a fixed parameter needs its value");
      p.value = v.value_or(0);
      p.source = r.string(t, path, "source", true);  // where the value is published
      if (!p.monitoring_point.empty())
        r.error(t.get("monitoring_point"), path + ".monitoring_point",
                "a fixed value has no monitoring point: no meter of the site reads it");
      if (t.get("point") || t.get("points")) r.error(&t, path + ".points", "a fixed parameter reads no points");
    } else {
      if (const toml::node* one = t.get("point")) {
        if (auto s = one->value<std::string>()) p.points.push_back(*s);
        else r.error(one, path + ".point", "must be a point id");
      }
      if (const toml::node* many = t.get("points")) {
        const toml::array* a = many->as_array();
        for (size_t k = 0; a && k < a->size(); ++k)
          if (auto s = a->get(k)->value<std::string>()) p.points.push_back(*s);
        if (!a) r.error(many, path + ".points", "must be an array of point ids");
      }
      if (p.points.empty()) r.error(&t, path + ".point", "name the point (or points, summed) it aggregates");
      for (const std::string& id : p.points) {
        const PointConfig* point = c.find_point(id);
        if (!point) {
          r.error(&t, path + ".points", "no [[points]] entry with id '" + id + "'");
          continue;
        }
        if (p.aggregation == Aggregation::counter && point->kind != PointKind::cumulative)
          r.error(&t, path + ".aggregation", "a counter difference needs a cumulative point; '" + id + "' is a gauge");
        if (p.aggregation == Aggregation::integral && point->kind != PointKind::gauge)
          r.error(&t, path + ".aggregation", "a time integral needs a gauge point; '" + id + "' is cumulative");
        if (c.expected_interval_ms(id) == 0)
          r.error(&t, path + ".points", "point '" + id + "' needs interval_ms in its [[points]] entry: coverage and "
                                        "gaps are measured against it (no polling source sets it)");
        if (!point->calibration_valid_until.empty() && !accuracy_percent(point->accuracy_class))
          r.error(&t, path + ".points", "point '" + id + "' has a calibration date, so it needs accuracy_class "
                                        "(\"0.5S\", \"1\", \"A\", \"B\", \"C\"): a reading out of calibration is "
                                        "corrected by it");
        auto point_unit = parse_unit(point->unit);
        if (!point_unit) {
          r.error(&t, path + ".points", "point '" + id + "': " + point_unit.error().message);
        } else if (unit && aggregated_dimension(p.aggregation, *point_unit) != unit->dimension) {
          Unit made = *point_unit;
          made.dimension = aggregated_dimension(p.aggregation, *point_unit);
          r.error(t.get("unit"), path + ".unit",
                  "unit mismatch: " + aggregation + " of point '" + id + "' (" + point->unit + ") gives " +
                      made.dimension_text() + ", not " + unit->dimension_text() + " (" + p.unit + ")");
        }
      }
    }
    std::string gap_rule = r.choice(t, path, "gap_rule", {"zero", "substitute"}, "zero");
    p.gap_rule = gap_rule == "substitute" ? GapRule::substitute : GapRule::zero;
    if (p.gap_rule == GapRule::substitute) {
      auto v = read_number(r, t, path, "substitute");
      if (!v) r.error(&t, path + ".substitute", "gap_rule \"substitute\" needs the substitute value");
      p.substitute = v.value_or(0);
    }
    if (t.get("gap_rule") && p.aggregation != Aggregation::integral)
      r.error(t.get("gap_rule"), path + ".gap_rule",
              "only a time integral has a gap rule (a counter loses nothing across a gap)");
    if (unit && !p.id.empty()) units.emplace(p.id, *unit);
    c.monitoring.parameters.push_back(std::move(p));
  }
}

void read_formulas(ConfigReader& r, const toml::table& m, Config& c, std::map<std::string, Unit>& units) {
  const toml::array* arr = r.array_of_tables(m, "monitoring", "formulas");
  if (!arr) {
    r.error(&m, "monitoring.formulas", "at least one [[monitoring.formulas]] entry is required");
    return;
  }
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "monitoring.formulas[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"id", "expression", "unit", "description"});
    MonitoringFormula f;
    f.id = r.string(t, path, "id", true);
    f.expression = r.string(t, path, "expression", true);
    f.unit = r.string(t, path, "unit", true);
    f.description = r.string(t, path, "description", false);
    if (!f.id.empty() && !is_symbol(f.id)) r.error(t.get("id"), path + ".id", "'" + f.id + "' must be a symbol");
    if (units.count(f.id)) r.error(t.get("id"), path + ".id", "'" + f.id + "' is already a parameter or formula");
    auto unit = parse_unit(f.unit);
    if (!unit) {
      r.error(t.get("unit"), path + ".unit", unit.error().message);
    } else if (!f.expression.empty()) {
      // Parameters and the formulas before this one: evaluated in order.
      auto compiled = Formula::compile(f.expression, units, *unit);
      if (!compiled) r.error(t.get("expression"), path + ".expression", compiled.error().message);
      else units.emplace(f.id, *unit);
    }
    c.monitoring.formulas.push_back(std::move(f));
  }
}

void read_cross_checks(ConfigReader& r, const toml::table& m, Config& c, const std::map<std::string, Unit>& units) {
  const toml::array* arr = r.array_of_tables(m, "monitoring", "cross_checks");
  std::set<std::string> ids;
  for (size_t i = 0; arr && i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "monitoring.cross_checks[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"id", "description", "value", "reference", "tolerance_percent"});
    MonitoringCrossCheck x;
    x.id = r.string(t, path, "id", true);
    if (!x.id.empty() && !ids.insert(x.id).second) r.error(t.get("id"), path + ".id", "duplicate cross-check id");
    x.description = r.string(t, path, "description", false);
    x.value = r.string(t, path, "value", true);
    x.reference = r.string(t, path, "reference", true);
    auto tolerance = read_number(r, t, path, "tolerance_percent");
    if (!tolerance || *tolerance < 0 || *tolerance > 100)
      r.error(t.get("tolerance_percent") ? t.get("tolerance_percent") : &t, path + ".tolerance_percent",
              "must be a number of percent from 0 to 100");
    x.tolerance_percent = tolerance.value_or(0);
    const Unit *a = nullptr, *b = nullptr;
    for (auto [key, id, unit] : {std::tuple{"value", &x.value, &a}, std::tuple{"reference", &x.reference, &b}}) {
      auto it = units.find(*id);
      if (it == units.end() && !id->empty())
        r.error(t.get(key), path + "." + key, "no parameter or formula with id '" + *id + "'");
      else if (it != units.end()) *unit = &it->second;
    }
    if (a && b && a->dimension != b->dimension)
      r.error(t.get("reference"), path + ".reference",
              "'" + x.value + "' (" + a->text + ") and '" + x.reference + "' (" + b->text + ") are not the same quantity");
    c.monitoring.cross_checks.push_back(std::move(x));
  }
}

void read_crediting_period(ConfigReader& r, const toml::table& m, Config& c, const TimeZone& zone) {
  const toml::table* t = r.table(m, "monitoring", "crediting_period", false);
  if (!t) return;
  const std::string path = "monitoring.crediting_period";
  r.only_keys(*t, path, {"start", "end"});
  auto start = read_time(r, *t, path, "start", zone);
  auto end = read_time(r, *t, path, "end", zone);
  if (start && end && *end <= *start) r.error(t->get("end"), path + ".end", "must be after start");
  if (start && end) c.monitoring.crediting_period = CreditingPeriod{*start, *end};
}

// Periods lie inside the crediting period and do not overlap (a tonne is credited once).
void check_periods(ConfigReader& r, const toml::array& arr, MonitoringConfig& mc, const TimeZone& zone) {
  auto where = [&](size_t i) { return arr.get(i)->as_table(); };
  auto span = [&](const MonitoringPeriod& p) {
    return zone.local_date(p.start_ms) + " to " + zone.last_local_date(p.end_ms) + " (" + zone.name() + ")";
  };
  for (size_t i = 0; i < mc.periods.size(); ++i) {
    const MonitoringPeriod& p = mc.periods[i];
    if (p.end_ms <= p.start_ms) continue;
    std::string path = "monitoring.periods[" + std::to_string(i) + "]";
    if (const auto& cp = mc.crediting_period; cp && (p.start_ms < cp->start_ms || p.end_ms > cp->end_ms))
      r.error(where(i), path, "period '" + p.name + "' (" + span(p) + ") reaches outside the crediting period (" +
                                  span({"", cp->start_ms, cp->end_ms}) + ")");
    for (size_t k = 0; k < i; ++k) {
      const MonitoringPeriod& q = mc.periods[k];
      if (q.end_ms > q.start_ms && p.start_ms < q.end_ms && q.start_ms < p.end_ms)
        r.error(where(i), path, "period '" + p.name + "' (" + span(p) + ") overlaps period '" + q.name + "' (" +
                                    span(q) + "): an emission reduction would be credited twice");
    }
  }
  std::stable_sort(mc.periods.begin(), mc.periods.end(),
                   [](const MonitoringPeriod& a, const MonitoringPeriod& b) { return a.start_ms < b.start_ms; });
}

void read_periods(ConfigReader& r, const toml::table& m, Config& c, const TimeZone& zone) {
  const toml::array* arr = r.array_of_tables(m, "monitoring", "periods");
  std::set<std::string> names;
  for (size_t i = 0; arr && i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string path = "monitoring.periods[" + std::to_string(i) + "]";
    r.only_keys(t, path, {"name", "start", "end"});
    MonitoringPeriod p;
    p.name = r.string(t, path, "name", true);
    if (!p.name.empty() && !names.insert(p.name).second)
      r.error(t.get("name"), path + ".name", "duplicate period name '" + p.name + "'");
    auto start = read_time(r, t, path, "start", zone);
    auto end = read_time(r, t, path, "end", zone);
    if (start && end && *end <= *start) r.error(t.get("end"), path + ".end", "must be after start");
    p.start_ms = start.value_or(0);
    p.end_ms = end.value_or(0);
    c.monitoring.periods.push_back(std::move(p));
  }
  if (arr) check_periods(r, *arr, c.monitoring, zone);
}

}  // namespace

void read_monitoring(ConfigReader& r, const toml::table& root, Config& c) {
  const toml::table* m = r.table(root, "", "monitoring", false);
  if (!m) return;
  r.only_keys(*m, "monitoring", {"methodology", "version", "reference_number", "title", "documents_dir", "crediting_period", "cross_checks", "allow_interpolation",
                                 "boundary_window_h", "emission_reductions", "parameters", "formulas", "periods"});
  MonitoringConfig& mc = c.monitoring;
  mc.enabled = true;
  mc.methodology = r.string(*m, "monitoring", "methodology", true);
  mc.version = r.string(*m, "monitoring", "version", true);
  mc.reference_number = r.string(*m, "monitoring", "reference_number", false);
  mc.title = r.string(*m, "monitoring", "title", false);
  if (std::string dir = r.string(*m, "monitoring", "documents_dir", false); !dir.empty())
    mc.documents_dir = resolve(c.file, dir);
  if (const toml::node* n = m->get("allow_interpolation")) {
    if (auto b = n->value<bool>()) mc.allow_interpolation = *b;
    else r.error(n, "monitoring.allow_interpolation", "must be true or false");
  }
  mc.boundary_window_ms = r.integer(*m, "monitoring", "boundary_window_h", 168, 1, 24 * 366) * 3'600'000LL;
  std::map<std::string, Unit> units;
  read_parameters(r, *m, c, units);
  read_formulas(r, *m, c, units);
  mc.emission_reductions = r.string(*m, "monitoring", "emission_reductions", false,
                                    mc.formulas.empty() ? "" : mc.formulas.back().id);
  bool found = false;
  for (const auto& f : mc.formulas) found = found || f.id == mc.emission_reductions;
  if (!found && !mc.formulas.empty())
    r.error(m->get("emission_reductions"), "monitoring.emission_reductions",
            "no formula with id '" + mc.emission_reductions + "'");
  if (found && units.count(mc.emission_reductions) && units.at(mc.emission_reductions).dimension != parse_unit("tCO2")->dimension)
    r.error(m->get("emission_reductions"), "monitoring.emission_reductions",
            "'" + mc.emission_reductions + "' must be a CO2 mass (tCO2): it is rounded down to whole tonnes");
  TimeZone zone = TimeZone::locate(mc.time_zone).value_or(TimeZone::utc());  // [site] timezone, checked there
  read_cross_checks(r, *m, c, units);
  read_crediting_period(r, *m, c, zone);
  read_periods(r, *m, c, zone);
}

const MonitoringPeriod* MonitoringConfig::period_ending_at(int64_t ms) const {
  for (const MonitoringPeriod& p : periods)
    if (p.end_ms == ms) return &p;
  return nullptr;
}

const MonitoringPeriod* MonitoringConfig::period_starting_at(int64_t ms) const {
  for (const MonitoringPeriod& p : periods)
    if (p.start_ms == ms) return &p;
  return nullptr;
}

std::vector<std::string> MonitoringConfig::workbook_missing() const {
  std::vector<std::string> missing;
  if (reference_number.empty()) missing.push_back("monitoring.reference_number");
  if (title.empty()) missing.push_back("monitoring.title");
  for (size_t i = 0; i < parameters.size(); ++i)
    if (!parameters[i].points.empty() && parameters[i].monitoring_point.empty())
      missing.push_back("monitoring.parameters[" + std::to_string(i) + "].monitoring_point (" + parameters[i].id + ")");
  return missing;
}

}  // namespace mrv
