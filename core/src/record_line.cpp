#include "mrv/core/record_line.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "mrv/core/canonical.hpp"
#include "mrv/core/crypto.hpp"
#include "mrv/core/text_limits.hpp"

namespace mrv {
namespace {

// Extension members may carry small objects; the line itself is one object of strings.
constexpr size_t kMaxRecordLineNesting = 8;
constexpr size_t kMaxRecordLineValues = 1024;

bool take(std::string_view& in, std::string_view prefix) {
  if (!in.starts_with(prefix)) return false;
  in.remove_prefix(prefix.size());
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A JSON string as the agent escapes it: only \" \\ and \u00XX below 0x20. Anything
// else (other escapes, raw control bytes) leaves the fast path.
bool take_string(std::string_view& in, std::string& out) {
  if (!take(in, "\"")) return false;
  out.clear();
  size_t i = 0;
  for (;;) {
    size_t plain = unescaped_run_end(in, i);  // copied whole: record lines are mostly that
    out.append(in.data() + i, plain - i);
    i = plain;
    if (i >= in.size() || static_cast<unsigned char>(in[i]) < 0x20) return false;
    if (in[i] == '"') {
      in.remove_prefix(i + 1);
      return true;
    }
    if (i + 1 >= in.size()) return false;
    char e = in[++i];
    if (e == '"' || e == '\\') {
      out += e;
    } else if (e == 'u' && i + 4 < in.size() && in[i + 1] == '0' && in[i + 2] == '0') {
      int hi = hex_digit(in[i + 3]), lo = hex_digit(in[i + 4]);
      if (hi < 0 || lo < 0 || hi > 1) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 4;
    } else {
      return false;
    }
    ++i;
  }
}

std::optional<RecordLine> fast_path(std::string_view in) {
  RecordLine r;
  if (!take(in, "{\"seq\":")) return std::nullopt;
  auto [p, ec] = std::from_chars(in.data(), in.data() + in.size(), r.seq);
  if (ec != std::errc() || p == in.data() || (in[0] == '0' && p - in.data() > 1)) return std::nullopt;
  in.remove_prefix(static_cast<size_t>(p - in.data()));
  if (!take(in, ",\"record\":") || !take_string(in, r.record) || !take(in, ",\"hash\":") ||
      !take_string(in, r.hash_hex) || !take(in, ",\"signature\":") || !take_string(in, r.signature_b64) ||
      in != "}")
    return std::nullopt;
  return r;
}

}  // namespace

std::optional<RecordLine> parse_record_line(std::string_view line) {
  if (auto r = fast_path(line)) return r;
  // A record line is one flat object; anything much bigger in shape is not one, and
  // would cost a JSON tree (text_limits.hpp) before saying so.
  if (!check_json_limits(line, kMaxRecordLineNesting, kMaxRecordLineValues)) return std::nullopt;
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_unsigned() || !j.contains("record") ||
      !j["record"].is_string() || !j.contains("hash") || !j["hash"].is_string() || !j.contains("signature") ||
      !j["signature"].is_string())
    return std::nullopt;
  return RecordLine{j["seq"].get<uint64_t>(), j["record"].get<std::string>(), j["hash"].get<std::string>(),
                    j["signature"].get<std::string>()};
}

void append_record_line(std::string& out, uint64_t seq, std::string_view canonical,
                        std::string_view hash, std::string_view signature) {
  out += "{\"seq\":";
  out += std::to_string(seq);
  out += ",\"record\":";
  append_json_string(out, canonical);
  out += ",\"hash\":\"";
  out += to_hex(hash);
  out += "\",\"signature\":\"";
  out += to_base64(signature);
  out += "\"}\n";
}

}  // namespace mrv
