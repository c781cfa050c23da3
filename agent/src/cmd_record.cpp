// record: a person enters a site record (docs/record-format.md §1.6). The options become
// one SiteRecord, checked here as the agent will check it (so a mistake is named at once,
// by its option), then delivered: through the running agent, or into the journal directly
// when none runs (record_delivery).
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <random>

#include "commands.hpp"
#include "entry_request.hpp"
#include "mrv/core/clock.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/time_text.hpp"
#include "mrv/core/time_zone.hpp"
#include "record_delivery.hpp"

namespace mrv::agent {
namespace {

tl::unexpected<Error> usage(std::string option, std::string message) {
  return fail(ErrorCode::invalid_argument, std::move(option), std::move(message));
}

std::string new_entry_id() {
  std::random_device random;  // getrandom(2)
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 32; ++i) id += kHex[random() & 0xF];
  return id;
}

Result<std::string> sha256_of_file(const std::string& option, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  if (!in || !std::filesystem::is_regular_file(path, ec))
    return usage(option, path.string() + ": no such file (or not a regular file, or unreadable)");
  Sha256Stream hash;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) hash.update(std::string_view(buf, static_cast<size_t>(in.gcount())));
  if (in.bad()) return usage(option, path.string() + ": read error");
  return to_hex(hash.finish());
}

// Everything the entry needs from the options and the config, named by option.
class EntryBuilder {
 public:
  EntryBuilder(const RecordArgs& args, const Config& config, const TimeZone& zone)
      : a_(args), config_(config), zone_(zone) {}

  Result<SiteRecord> build() {
    auto kind = parse_site_record_kind(a_.kind);
    if (!kind) return usage("record", "unknown kind '" + a_.kind + "'");
    s_.kind = *kind;
    s_.id = a_.id.empty() ? new_entry_id() : a_.id;
    if (auto r = resolve_point(); !r) return tl::unexpected(r.error());
    Result<void> r;
    switch (s_.kind) {
      case SiteRecordKind::manual_reading: r = manual_reading(); break;
      case SiteRecordKind::meter_exchange: r = meter_exchange(); break;
      case SiteRecordKind::calibration: r = calibration(); break;
      case SiteRecordKind::document: r = document(); break;
      case SiteRecordKind::note: r = note(); break;
    }
    if (!r) return tl::unexpected(r.error());
    if (!a_.comment.empty()) s_.details["comment"] = a_.comment;
    return s_;
  }

 private:
  Result<void> resolve_point() {
    if (!a_.meter.empty()) {
      const PointConfig* found = nullptr;
      for (const PointConfig& p : config_.points)
        if (p.meter_serial == a_.meter) found = &p;
      if (!found) return usage("--meter", "no point of " + config_.file.string() + " has meter_serial '" + a_.meter + "'");
      if (!a_.point.empty() && a_.point != found->id)
        return usage("--meter", "'" + a_.meter + "' is the meter of point '" + found->id + "', not of --point " + a_.point);
      point_ = found;
    } else if (!a_.point.empty()) {
      point_ = config_.find_point(a_.point);
      if (!point_) return usage("--point", "'" + a_.point + "' is not a point of " + config_.file.string());
    }
    bool needs = s_.kind != SiteRecordKind::document && s_.kind != SiteRecordKind::note;
    if (needs && !point_) return usage("--point", "a " + a_.kind + " names its point (--point ID or --meter SERIAL)");
    if (s_.kind == SiteRecordKind::document && point_)
      return usage("--point", "a document is about the site: no --point or --meter (name the parameter with --parameter)");
    if (point_) s_.point = point_->id;
    return {};
  }

  Result<int64_t> time(const std::string& option, const std::string& text) {
    auto t = zone_.parse_time(text);
    if (!t) return usage(option, "'" + text + "' is not a time: a date (YYYY-MM-DD, midnight in " + zone_.name() +
                                     "), RFC 3339 with its offset (2027-08-10T11:00:00+08:00) or epoch ms");
    return *t;
  }
  // --at, or now when the kind allows it.
  Result<void> at(bool required) {
    if (a_.at.empty()) {
      if (required) return usage("--at", "required for a " + a_.kind);
      s_.ts_ms = utc_now_ms();
      return {};
    }
    auto t = time("--at", a_.at);
    if (!t) return tl::unexpected(t.error());
    s_.ts_ms = *t;
    return {};
  }
  // The first instant after a local date (an inclusive last day), or a time as given.
  Result<int64_t> end_of(const std::string& option, const std::string& text) {
    if (text.size() != 10) return time(option, text);
    auto day = zone_.midnight_ms(text);
    if (!day) return usage(option, "'" + text + "' is not a date (YYYY-MM-DD)");
    // The next local date's midnight: a day later in UTC terms may miss a DST change.
    return zone_.midnight_ms(zone_.local_date(*day + 36 * 3600 * 1000));
  }
  Result<void> required(const std::string& option, const std::string& value) {
    if (value.empty()) return usage(option, "required for a " + a_.kind);
    return {};
  }
  std::string serial() const { return a_.serial.empty() ? point_->meter_serial : a_.serial; }
  std::string unit() const { return a_.unit.empty() && point_ ? point_->unit : a_.unit; }

  Result<void> manual_reading() {
    if (auto r = required("--value", a_.value); !r) return r;
    if (auto r = at(false); !r) return r;
    s_.value = a_.value;
    s_.unit = unit();
    s_.details["meter_serial"] = serial();
    if (!a_.photo.empty()) {
      auto h = sha256_of_file("--photo", a_.photo);
      if (!h) return tl::unexpected(h.error());
      s_.details["photo_sha256"] = *h;
    }
    return {};
  }
  Result<void> meter_exchange() {
    for (auto [option, value] : {std::pair<const char*, const std::string&>{"--old-final", a_.old_final},
                                 {"--new-serial", a_.new_serial}, {"--new-initial", a_.new_initial}})
      if (auto r = required(option, value); !r) return r;
    if (auto r = at(false); !r) return r;
    s_.unit = unit();
    s_.details["old_serial"] = a_.old_serial.empty() ? point_->meter_serial : a_.old_serial;
    s_.details["old_final"] = a_.old_final;
    s_.details["new_serial"] = a_.new_serial;
    s_.details["new_initial"] = a_.new_initial;
    return {};
  }
  Result<void> calibration() {
    for (auto [option, value] : {std::pair<const char*, const std::string&>{"--laboratory", a_.laboratory},
                                 {"--certificate-number", a_.certificate_number}, {"--error-percent", a_.error_percent},
                                 {"--result", a_.result}, {"--next-due", a_.next_due}})
      if (auto r = required(option, value); !r) return r;
    if (a_.certificate.empty()) return usage("--certificate", "required for a calibration: the certificate's file");
    if (auto r = at(true); !r) return r;
    auto h = sha256_of_file("--certificate", a_.certificate);
    if (!h) return tl::unexpected(h.error());
    if (a_.next_due.size() != 10) return usage("--next-due", "'" + a_.next_due + "' is not a date (YYYY-MM-DD)");
    auto until = end_of("--next-due", a_.next_due);
    if (!until) return tl::unexpected(until.error());
    s_.value = a_.error_percent;
    s_.unit = "%";
    s_.details["meter_serial"] = serial();
    s_.details["laboratory"] = a_.laboratory;
    s_.details["certificate"] = a_.certificate_number;
    s_.details["certificate_sha256"] = *h;
    s_.details["result"] = a_.result;
    s_.details["valid_until"] = format_utc_ms(*until);
    return {};
  }
  Result<void> document() {
    for (auto [option, value] : {std::pair<const char*, const std::string&>{"--type", a_.type},
                                 {"--number", a_.number}, {"--issuer", a_.issuer}, {"--from", a_.from},
                                 {"--to", a_.to}, {"--quantity", a_.quantity}, {"--unit", a_.unit}})
      if (auto r = required(option, value); !r) return r;
    if (a_.file.empty()) return usage("--file", "required for a document: the document's file");
    auto from = time("--from", a_.from);
    if (!from) return tl::unexpected(from.error());
    auto to = end_of("--to", a_.to);
    if (!to) return tl::unexpected(to.error());
    auto h = sha256_of_file("--file", a_.file);
    if (!h) return tl::unexpected(h.error());
    s_.ts_ms = *from;
    s_.value = a_.quantity;
    s_.unit = a_.unit;
    s_.details["document_type"] = a_.type;
    s_.details["number"] = a_.number;
    s_.details["issuer"] = a_.issuer;
    s_.details["period_to"] = format_utc_ms(*to);
    s_.details["file_sha256"] = *h;
    s_.details["file_name"] = a_.file.filename().string();
    if (!a_.parameter.empty()) s_.details["parameter"] = a_.parameter;
    return {};
  }
  Result<void> note() {
    if (auto r = required("--text", a_.text); !r) return r;
    if (auto r = at(false); !r) return r;
    s_.details["text"] = a_.text;
    if (!a_.to.empty()) {
      auto to = time("--to", a_.to);
      if (!to) return tl::unexpected(to.error());
      s_.details["to"] = format_utc_ms(*to);
    }
    return {};
  }

  const RecordArgs& a_;
  const Config& config_;
  const TimeZone& zone_;
  const PointConfig* point_ = nullptr;
  SiteRecord s_;
};

// Option names for the record's members, so a refusal names what to change.
std::string option_of(const std::string& kind, const std::string& where) {
  if (where == "value")
    return std::string(kind == "calibration" ? "--error-percent" : kind == "document" ? "--quantity" : "--value") +
           " (value)";
  if (where == "ts_ms") return std::string(kind == "document" ? "--from" : "--at") + " (ts_ms)";
  static const std::pair<const char*, const char*> kOptions[] = {
      {"unit", "--unit"}, {"point", "--point"}, {"details.meter_serial", "--serial"}, {"details.old_serial", "--old-serial"},
      {"details.old_final", "--old-final"}, {"details.new_serial", "--new-serial"},
      {"details.new_initial", "--new-initial"}, {"details.result", "--result"}, {"details.valid_until", "--next-due"},
      {"details.period_to", "--to"}, {"details.to", "--to"}, {"details.document_type", "--type"},
      {"details.entered_by", "--by"}, {"details.id", "--id"}, {"details.parameter", "--parameter"},
      {"details.laboratory", "--laboratory"}, {"details.certificate", "--certificate-number"},
      {"details.number", "--number"}, {"details.issuer", "--issuer"}, {"details.text", "--text"},
      {"details.comment", "--comment"}};
  for (auto [member, option] : kOptions)
    if (where == member) return std::string(option) + " (" + where + ")";
  return where;
}

}  // namespace

int record(const RecordArgs& args) {
  auto config = load_config(args.config);
  if (!config) {
    for (const Error& e : config.error()) std::cerr << e.to_string() << "\n";
    return kExitUsage;
  }
  auto zone = TimeZone::locate(config->monitoring.time_zone);
  if (!zone) {
    std::cerr << "mrv-agent record: " << zone.error().to_string() << "\n";
    return kExitUsage;
  }
  auto refused = [&](const Error& e) {
    std::cerr << "mrv-agent record " << args.kind << ": "
              << (e.where.empty() ? e.message : option_of(args.kind, e.where) + ": " + e.message) << "\n";
    return kExitUsage;
  };
  auto built = EntryBuilder(args, *config, *zone).build();
  if (!built) return refused(built.error());
  std::string login = login_name(::getuid());
  built->entered_by = args.by.empty() ? login : args.by;
  // The agent's own checks, here first: a mistake is named by its option before anything is sent.
  built->login = login;
  auto reading = site_record_reading(*built);
  if (!reading) return refused(reading.error());
  auto parsed = parse_site_record(*reading);
  if (!parsed) return refused(parsed.error());
  if (auto ok = check_entry(*parsed, *config, utc_now_ms()); !ok) return refused(ok.error());
  built->login.clear();

  auto delivered = deliver_entry(*built, *config, login);
  if (!delivered) {
    std::cerr << "mrv-agent record " << args.kind << ": " << delivered.error().to_string() << "\n";
    return kExitFailure;
  }
  const SiteRecordCommit& c = delivered->commit;
  std::cout << (c.duplicate ? "already entered: seq " : "entered: seq ") << c.seq << ", " << args.kind
            << (built->point.empty() ? "" : " of " + built->point) << ", id " << built->id << ", hash " << c.hash_hex
            << (delivered->through_agent ? "" : " (no agent running: written to the journal directly)") << "\n";
  return kExitOk;
}

}  // namespace mrv::agent
