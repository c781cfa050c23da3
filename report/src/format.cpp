#include "mrv/report/format.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>

namespace mrv::report {

std::string format_decimal(double value, int decimals) {
  if (!std::isfinite(value)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string format_time(int64_t utc_ms) {
  int64_t ms = ((utc_ms % 1000) + 1000) % 1000;
  std::time_t secs = static_cast<std::time_t>((utc_ms - ms) / 1000);
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

std::string format_duration(int64_t ms) {
  bool negative = ms < 0;
  int64_t s = (negative ? -ms : ms) / 1000;
  char buf[64];
  if (s < 60) std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(s));
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%lld min", static_cast<long long>(s / 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lld h %02lld min", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else
    std::snprintf(buf, sizeof buf, "%lld d %lld h", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  return (negative ? "-" : "") + std::string(buf);
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_page_start(std::string_view title, std::string_view style) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
  out += html_escape(title);
  out += "</title>\n<style>";
  out += style;
  out += "</style>\n</head>\n<body>\n";
  return out;
}

}  // namespace mrv::report
