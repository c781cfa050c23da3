#include "mrv/core/time_text.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <string>

namespace mrv {

Result<int64_t> parse_time_ms(std::string_view text) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_argument, std::string(text),
                "not a time (YYYY-MM-DD, RFC 3339 like 2026-11-25T10:00:00Z, or epoch ms)");
  };
  auto number = [](std::string_view digits, int64_t& out) {
    auto r = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return !digits.empty() && r.ec == std::errc() && r.ptr == digits.data() + digits.size();
  };
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t ms = 0;
    if (!number(text, ms)) return bad();
    return ms;
  }
  std::string s(text);
  tm t{};
  int millis = 0, off_h = 0, off_m = 0;
  char sign = 'Z';
  int consumed = 0;
  if (s.size() == 10) {
    if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &t.tm_year, &t.tm_mon, &t.tm_mday, &consumed) != 3 ||
        consumed != 10)
      return bad();
  } else {
    if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &t.tm_year, &t.tm_mon, &t.tm_mday,
                    &t.tm_hour, &t.tm_min, &t.tm_sec, &consumed) != 6)
      return bad();
    std::string_view rest = std::string_view(s).substr(static_cast<size_t>(consumed));
    if (!rest.empty() && rest[0] == '.') {
      size_t digits = 1;
      while (digits < rest.size() && std::isdigit(static_cast<unsigned char>(rest[digits]))) ++digits;
      std::string frac(rest.substr(1, digits - 1));
      frac.resize(3, '0');
      millis = std::stoi(frac);
      rest = rest.substr(digits);
    }
    int64_t h = 0, m = 0;
    if (rest == "Z" || rest == "z") {
      sign = 'Z';
    } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
               number(rest.substr(1, 2), h) && number(rest.substr(4, 2), m) && h < 24 && m < 60) {
      sign = rest[0];
      off_h = static_cast<int>(h);
      off_m = static_cast<int>(m);
    } else {
      return bad();
    }
  }
  if (t.tm_mon < 1 || t.tm_mon > 12 || t.tm_mday < 1 || t.tm_mday > 31 || t.tm_hour > 23 ||
      t.tm_min > 59 || t.tm_sec > 60)
    return bad();
  t.tm_year -= 1900;
  t.tm_mon -= 1;
  int64_t seconds = timegm(&t);
  int64_t offset = (off_h * 3600 + off_m * 60) * (sign == '-' ? -1 : 1);
  return (seconds - offset) * 1000 + millis;
}

std::string format_utc_ms(int64_t utc_ms) {
  int64_t ms = ((utc_ms % 1000) + 1000) % 1000;
  int64_t floor_s = utc_ms / 1000 - (utc_ms % 1000 < 0 ? 1 : 0);  // no overflow at INT64_MIN
  std::time_t secs = static_cast<std::time_t>(floor_s);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s = buf;
  if (ms) {
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(ms));
    s += buf;
  }
  return s + "Z";
}

}  // namespace mrv
