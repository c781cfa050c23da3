#include "entry_request.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <nlohmann/json.hpp>

#include "mrv/core/text_limits.hpp"
#include "mrv/core/time_text.hpp"

namespace mrv::agent {
namespace {

using json = nlohmann::json;

tl::unexpected<Error> refuse(std::string where, std::string message) {
  return fail(ErrorCode::invalid_argument, std::move(where), std::move(message));
}

// The point an entry names, or an error (the kinds that need one are checked by the
// site-record rules before this).
Result<const PointConfig*> point_of(const SiteRecord& s, const Config& c) {
  if (s.point.empty()) return nullptr;
  const PointConfig* p = c.find_point(s.point);
  if (!p) return refuse("point", "'" + s.point + "' is not a point of the config " + c.file.string());
  return p;
}

Result<void> check_meter(const SiteRecord& s, const PointConfig& p) {
  if (p.meter_serial.empty())
    return refuse("point", "'" + p.id + "' has no meter_serial in the config, so no meter's " +
                               std::string(to_string(s.kind)) + " can be tied to it");
  if (s.kind == SiteRecordKind::meter_exchange) {
    if (s.details.at("old_serial") != p.meter_serial && s.details.at("new_serial") != p.meter_serial)
      return refuse("details.old_serial", "neither '" + s.details.at("old_serial") + "' nor '" +
                                              s.details.at("new_serial") + "' is the meter of point '" + p.id +
                                              "' in the config ('" + p.meter_serial + "')");
    return {};
  }
  const std::string& serial = s.details.at("meter_serial");
  if (serial != p.meter_serial)
    return refuse("details.meter_serial", "'" + serial + "' is not the meter of point '" + p.id +
                                              "' in the config ('" + p.meter_serial + "')");
  return {};
}

}  // namespace

Result<SiteRecord> parse_entry_request(std::string_view line) {
  if (line.size() > kEntryRequestMaxBytes)
    return refuse("request", "longer than " + std::to_string(kEntryRequestMaxBytes) + " bytes");
  if (auto shallow = check_json_limits(line, 4, 1024); !shallow) return refuse("request", shallow.error().message);
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return refuse("request", "not a JSON object");
  SiteRecord s;
  for (const auto& [key, value] : j.items()) {
    std::string where = "request." + key;
    if (key == "ts_ms") {
      if (!value.is_number_integer()) return refuse(where, "not an integer (UTC milliseconds)");
      s.ts_ms = value.get<int64_t>();
    } else if (key == "kind" || key == "point" || key == "value" || key == "unit") {
      if (!value.is_string()) return refuse(where, "not a string");
      const std::string& text = value.get_ref<const std::string&>();
      if (key == "kind") {
        auto kind = parse_site_record_kind(text);
        if (!kind) return refuse(where, "'" + text + "' is none of manual-reading, meter-exchange, calibration, document, note");
        s.kind = *kind;
      } else {
        (key == "point" ? s.point : key == "value" ? s.value : s.unit) = text;
      }
    } else if (key == "details") {
      if (!value.is_object()) return refuse(where, "not a JSON object");
      for (const auto& [name, member] : value.items()) {
        if (!member.is_string()) return refuse(where + "." + name, "not a string");
        const std::string& text = member.get_ref<const std::string&>();
        if (name == "kind") return refuse(where + ".kind", "the kind goes in the request's own kind");
        if (name == "id") s.id = text;
        else if (name == "entered_by") s.entered_by = text;
        else s.details[name] = text;
      }
    } else {
      return refuse(where, "unknown member (kind, point, value, unit, ts_ms, details)");
    }
  }
  if (!j.contains("kind")) return refuse("request.kind", "missing");
  if (!j.contains("ts_ms")) return refuse("request.ts_ms", "missing");
  if (!j.contains("details")) return refuse("request.details", "missing");
  return s;
}

Result<void> check_entry(const SiteRecord& s, const Config& c, int64_t now_ms) {
  if (s.ts_ms < 0) return refuse("ts_ms", "before 1970: no time a meter or a document of this site has");
  if (s.ts_ms > now_ms + kEntryFutureSlackMs)
    return refuse("ts_ms", format_utc_ms(s.ts_ms) + " is more than a day ahead of the agent's clock (" +
                               format_utc_ms(now_ms) + ")");
  auto point = point_of(s, c);
  if (!point) return tl::unexpected(point.error());
  const PointConfig* p = *point;
  if (p && (s.kind == SiteRecordKind::manual_reading || s.kind == SiteRecordKind::calibration ||
            s.kind == SiteRecordKind::meter_exchange))
    if (auto ok = check_meter(s, *p); !ok) return ok;
  if (p && (s.kind == SiteRecordKind::manual_reading || s.kind == SiteRecordKind::meter_exchange) && s.unit != p->unit)
    return refuse("unit", "'" + s.unit + "' is not the unit of point '" + p->id + "' ('" + p->unit + "')");
  if (p && s.kind == SiteRecordKind::calibration && s.details.at("result") == "pass") {
    double error = std::strtod(s.value.c_str(), nullptr);
    if (auto allowed = accuracy_percent(p->accuracy_class); allowed && std::fabs(error) > *allowed) {
      char limit[32];
      std::snprintf(limit, sizeof limit, "%g", *allowed);
      return refuse("value", "a calibration that passed cannot have found an error of " + s.value + " %: point '" +
                                 p->id + "' is of accuracy class " + p->accuracy_class + " (at most ±" + limit +
                                 " %); enter it with --result fail");
    }
  }
  if (s.kind == SiteRecordKind::document && s.details.contains("parameter") && c.monitoring.enabled) {
    bool known = false;
    for (const MonitoringParameter& m : c.monitoring.parameters) known = known || m.id == s.details.at("parameter");
    if (!known)
      return refuse("details.parameter", "'" + s.details.at("parameter") + "' is not a parameter of [monitoring]");
  }
  return {};
}

Result<Entry> accept_entry(std::string_view line, const Config& config, const std::string& login, int64_t now_ms) {
  auto record = parse_entry_request(line);
  if (!record) return tl::unexpected(record.error());
  record->login = login;
  auto reading = site_record_reading(*record);
  if (!reading) return tl::unexpected(reading.error());
  auto parsed = parse_site_record(*reading);  // the typed members, as the journal will read them
  if (!parsed) return tl::unexpected(parsed.error());
  if (auto ok = check_entry(*parsed, config, now_ms); !ok) return tl::unexpected(ok.error());
  return Entry{std::move(*parsed), std::move(*reading)};
}

std::string entry_request_line(const SiteRecord& s) {
  json details = json::object();
  for (const auto& [name, value] : s.details)
    if (name != "kind") details[name] = value;
  details["id"] = s.id;
  details["entered_by"] = s.entered_by;
  json j = {{"kind", std::string(to_string(s.kind))}, {"point", s.point}, {"value", s.value},
            {"unit", s.unit}, {"ts_ms", s.ts_ms}, {"details", details}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string entry_answer(const SiteRecordCommit& c) {
  return json{{"ok", true}, {"seq", c.seq}, {"hash", c.hash_hex}, {"duplicate", c.duplicate}}.dump();
}

std::string entry_refusal(const std::string& error) {
  return json{{"ok", false}, {"error", error}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string login_name(uid_t uid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd pw{}, *found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found && found->pw_name && *found->pw_name)
    return found->pw_name;
  return "uid:" + std::to_string(uid);
}

}  // namespace mrv::agent
