#pragma once
// A site's civil time zone (IANA name, from the OS's tz database): JCM documents write
// periods and due dates as inclusive local dates ("01/01/2027 - 31/03/2027"), while
// records and reports count UTC milliseconds.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

class TimeZone {
 public:
  // "UTC", "Asia/Tokyo", "Asia/Ulaanbaatar", ...; an error names what is unknown.
  [[nodiscard]] static Result<TimeZone> locate(std::string_view name);
  static TimeZone utc();

  const std::string& name() const { return name_; }
  // The local calendar date of an instant: "2027-03-31".
  std::string local_date(int64_t utc_ms) const;
  // The inclusive local date of the last moment before an exclusive end instant.
  std::string last_local_date(int64_t end_ms) const { return local_date(end_ms - 1); }
  // The local time of an instant to the minute: "2027-03-31 23:59".
  std::string local_minute(int64_t utc_ms) const;
  // JCM's form of a local date: "31/03/2027".
  std::string jcm_date(int64_t utc_ms) const;
  // Local midnight at the start of a "YYYY-MM-DD" date, as UTC ms.
  [[nodiscard]] Result<int64_t> midnight_ms(std::string_view date) const;
  // A date ("2027-05-12": local midnight) or anything parse_time_ms takes (an RFC 3339
  // time with its offset, epoch ms).
  [[nodiscard]] Result<int64_t> parse_time(std::string_view text) const;

 private:
  TimeZone(std::string name, const void* zone) : name_(std::move(name)), zone_(zone) {}
  std::string name_;
  const void* zone_;  // a date::time_zone of the process-wide tz database (never freed)
};

}  // namespace mrv
