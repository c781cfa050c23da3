#include "mrv/core/text_limits.hpp"

#include <vector>

namespace mrv {
namespace {

std::string too_deep(const char* what, size_t max_depth) {
  return std::string(what) + " nested deeper than " + std::to_string(max_depth) + " levels";
}

// The end of the string that starts at `i` (on its opening quote): the index after its
// closing quote, or text.size() when it is not closed. Counts the newlines it spans.
size_t skip_toml_string(std::string_view text, size_t i, size_t& line) {
  const char quote = text[i];
  const bool multi = text.substr(i, 3) == std::string_view(quote == '"' ? "\"\"\"" : "'''");
  size_t j = i + (multi ? 3 : 1);
  while (j < text.size()) {
    char c = text[j];
    if (c == '\\' && quote == '"') {
      if (j + 1 < text.size() && text[j + 1] == '\n') ++line;
      j += 2;
      continue;
    }
    if (c == '\n') {
      if (!multi) return j;  // an unterminated one-line string: toml++ reports it
      ++line;
    }
    if (c == quote && (!multi || text.substr(j, 3) == text.substr(i, 3))) {
      j += multi ? 3 : 1;
      while (multi && j < text.size() && text[j] == quote) ++j;  // """a"""" ends in quotes
      return j;
    }
    ++j;
  }
  return j;
}

}  // namespace

Result<void> check_json_limits(std::string_view text, size_t max_depth, size_t max_values) {
  size_t depth = 0, line = 1, line_start = 0;
  size_t values = 1;  // the text; then one per comma and per first element of a container
  bool in_string = false, just_opened = false;
  char opened_with = 0;
  auto where = [&](size_t i) {
    return " (at line " + std::to_string(line) + ", column " + std::to_string(i - line_start + 1) + ")";
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      if (c == '\n') ++line, line_start = i + 1;
      continue;
    }
    bool empty = just_opened && ((c == ']' && opened_with == '[') || (c == '}' && opened_with == '{'));
    if (just_opened && !empty) ++values;  // a container's first element
    just_opened = false;
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > max_depth) return fail(ErrorCode::invalid_argument, "", too_deep("JSON", max_depth) + where(i));
        just_opened = true, opened_with = c;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      case ',': ++values; break;
      default: break;
    }
    if (values > max_values)
      return fail(ErrorCode::invalid_argument, "",
                  "JSON holds more than " + std::to_string(max_values) + " values" + where(i));
  }
  return {};
}

// The depth of a container is what docs/verification.md §6 counts: the root table 1, a
// header `[a.b]` opens b at 3 (`[[a.b]]`: its element at 4), a key `x.y = {}` in a table
// at depth d opens table x at d + 1 and puts its value at d + 2, an array's elements lie
// one deeper than the array. Only containers count, and the first one deeper than
// the limit stops the scan, so the stack here is bounded too.
Result<void> check_toml_limits(std::string_view text, const std::string& file, size_t max_depth) {
  if (text.size() > kMaxTomlBytes)
    return fail(ErrorCode::config, file, "larger than " + std::to_string(kMaxTomlBytes) + " bytes");
  struct Open {
    char kind;  // '[' an array value, '{' an inline table
    size_t depth;
  };
  std::vector<Open> open;
  size_t line = 1;
  size_t table_depth = 1;  // the table the last [header] opened
  size_t key_parts = 1;    // parts of the key being read
  size_t value_depth = 0;  // the depth a container starting here would have
  bool in_key = true, line_blank = true;
  auto deeper = [&](size_t depth) { return depth > max_depth; };
  auto error = [&] { return fail(ErrorCode::config, file + ":" + std::to_string(line), too_deep("TOML", max_depth)); };
  auto after_value = [&] {  // a value ended: the next element or key of its container
    in_key = false;
    if (!open.empty() && open.back().kind == '[') value_depth = open.back().depth + 1;
  };
  for (size_t i = 0; i < text.size();) {
    char c = text[i];
    if (c == '\n') {
      ++line, ++i;
      if (open.empty()) in_key = true, key_parts = 1, line_blank = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    bool at_line_start = line_blank;
    line_blank = false;
    if (c == '"' || c == '\'') {
      i = skip_toml_string(text, i, line);
      continue;
    }
    if (in_key && open.empty() && at_line_start && c == '[') {  // a [table] or [[array]] header
      bool array = i + 1 < text.size() && text[i + 1] == '[';
      size_t parts = 1;
      for (i += array ? 2 : 1; i < text.size() && text[i] != ']' && text[i] != '\n';) {
        if (text[i] == '"' || text[i] == '\'') {
          i = skip_toml_string(text, i, line);
          continue;
        }
        if (text[i] == '.' && deeper(1 + ++parts + (array ? 1 : 0))) return error();
        ++i;
      }
      table_depth = 1 + parts + (array ? 1 : 0);
      if (deeper(table_depth)) return error();
      continue;  // the rest of the line: the closing brackets, a comment
    }
    ++i;
    if (in_key) {
      if (c == '.') {
        // x.y.z: tables x and y, one level each; z's value is counted if it is a container
        if (deeper((open.empty() ? table_depth : open.back().depth) + ++key_parts - 1)) return error();
      } else if (c == '=') {
        in_key = false;
        value_depth = (open.empty() ? table_depth : open.back().depth) + key_parts;
      } else if (c == '}' && !open.empty() && open.back().kind == '{') {  // `{}` or `{ a = 1, }`
        open.pop_back();
        after_value();
      }
      continue;
    }
    if (c == '[' || c == '{') {
      if (deeper(value_depth)) return error();
      open.push_back({c, value_depth});
      if (c == '{') in_key = true, key_parts = 1;
      else value_depth += 1;
    } else if ((c == ']' || c == '}') && !open.empty() && open.back().kind == (c == ']' ? '[' : '{')) {
      open.pop_back();
      after_value();
    } else if (c == ',' && !open.empty()) {
      if (open.back().kind == '{') in_key = true, key_parts = 1;
      else value_depth = open.back().depth + 1;
    }
  }
  return {};
}

}  // namespace mrv
