// Outside text that nests too deeply, or holds too many values, is refused before a
// recursive parser or a DOM sees it (docs/verification.md §6.1): JSON, TOML, and the two
// shared parsers that read such text from other machines (reports, configs).
#include <catch2/catch.hpp>

#include <toml++/toml.h>

#include "mrv/core/config.hpp"
#include "mrv/core/text_limits.hpp"
#include "mrv/report/json.hpp"

using namespace mrv;

namespace {

std::string json_arrays(size_t depth) { return std::string(depth, '[') + "0" + std::string(depth, ']'); }

std::string json_objects(size_t depth) {
  std::string s;
  for (size_t i = 0; i < depth; ++i) s += "{\"a\":";
  return s + "0" + std::string(depth, '}');
}

// A header `[a.a. ... .a]` of `parts` parts: the table it opens lies at depth parts + 1.
std::string toml_header(size_t parts) {
  std::string s = "[a";
  for (size_t i = 1; i < parts; ++i) s += ".a";
  return s + "]\nx = 1\n";
}

// `x = [[...[1]...]]`: the innermost array lies at depth arrays + 1.
std::string toml_inline_arrays(size_t arrays) { return "x = " + json_arrays(arrays) + "\n"; }

// A signed report whose one extra member nests `depth` arrays deep.
std::string nested_report(size_t depth) {
  return R"({"format":"mrv-report/1","signature":{"algorithm":"ed25519","key_id":"k","value":"v"},"x":)" +
         json_arrays(depth) + "}";
}

}  // namespace

TEST_CASE("nesting: JSON at the limit passes, one level more is refused with its line and column", "[nesting]") {
  CHECK(check_json_limits(json_arrays(kMaxJsonNesting)));
  CHECK(check_json_limits(json_objects(kMaxJsonNesting)));
  auto deep = check_json_limits("{\"k\":\n" + json_arrays(kMaxJsonNesting));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == ErrorCode::invalid_argument);
  CHECK(deep.error().message == "JSON nested deeper than 64 levels (at line 2, column 64)");
  CHECK_FALSE(check_json_limits(json_objects(kMaxJsonNesting + 1)));
}

TEST_CASE("nesting: brackets inside JSON strings, escaped quotes included, do not count", "[nesting]") {
  std::string many(1000, '[');
  CHECK(check_json_limits("{\"a\":\"" + many + "\",\"b\":\"\\\"" + many + "\"}"));
  CHECK_FALSE(check_json_limits("[\"\\\\\"," + many + "]"));  // the string ends after \\ .
}

TEST_CASE("values: a JSON text of 1,048,576 values passes, one more is refused", "[nesting]") {
  auto zeros = [](size_t n) {  // an array of n zeros: n + 1 values
    std::string s = "[0";
    for (size_t i = 1; i < n; ++i) s += ",0";
    return s + "]";
  };
  CHECK(check_json_limits(zeros(kMaxJsonValues - 1)));
  auto many = check_json_limits(zeros(kMaxJsonValues));
  REQUIRE_FALSE(many);
  CHECK(many.error().message.find("JSON holds more than 1048576 values") == 0);
  // Empty containers add no element; members count once; commas in strings not at all.
  CHECK(check_json_limits("[[], {}, [ ], { }]", 64, 5));
  CHECK_FALSE(check_json_limits("[[], {}, [ ], { }]", 64, 4));
  CHECK(check_json_limits(R"({"a,b": 1, "c": [1, 2]})", 64, 5));
  CHECK_FALSE(check_json_limits(R"({"a,b": 1, "c": [1, 2]})", 64, 4));
}

TEST_CASE("nesting: 200,000 nested JSON objects are refused quickly and without a crash", "[nesting]") {
  CHECK_FALSE(check_json_limits(json_objects(200'000)));
  CHECK_FALSE(check_json_limits(json_arrays(2'000'000)));
}

TEST_CASE("nesting: a TOML header at the limit parses, one part more names file and line", "[nesting]") {
  std::string at_limit = toml_header(kMaxTomlNesting - 1);
  REQUIRE(check_toml_limits(at_limit, "site.toml"));
  CHECK_NOTHROW(toml::parse(at_limit));
  auto deep = check_toml_limits("# a comment\n\n" + toml_header(kMaxTomlNesting), "site.toml");
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == ErrorCode::config);
  CHECK(deep.error().to_string() == "site.toml:3: TOML nested deeper than 64 levels");
}

TEST_CASE("nesting: TOML arrays of tables, dotted keys and inline values count their levels", "[nesting]") {
  // [[a.b]]: a at 2, the array b at 3, its table at 4.
  std::string parts;
  for (size_t i = 0; i < kMaxTomlNesting - 3; ++i) parts += ".a";
  CHECK(check_toml_limits("[[a" + parts + "]]\n", "f"));         // its table at 64
  CHECK_FALSE(check_toml_limits("[[a" + parts + ".a]]\n", "f"));  // at 65
  CHECK(check_toml_limits(toml_inline_arrays(kMaxTomlNesting - 1), "f"));
  CHECK_NOTHROW(toml::parse(toml_inline_arrays(kMaxTomlNesting - 1)));
  CHECK_FALSE(check_toml_limits(toml_inline_arrays(kMaxTomlNesting), "f"));
  // x.x. ... .x = {}: 63 dotted parts put the inline table at 64.
  std::string key = "x";
  for (size_t i = 1; i < kMaxTomlNesting - 1; ++i) key += ".x";
  CHECK(check_toml_limits(key + " = {}\n", "f"));
  CHECK_FALSE(check_toml_limits(key + ".x = {}\n", "f"));
  CHECK(check_toml_limits(key + ".x = 1\n", "f"));  // a scalar opens no table
  CHECK_FALSE(check_toml_limits("t = { a = { b = " + toml_inline_arrays(kMaxTomlNesting - 2).substr(4) + "} }",
                                 "f"));
}

TEST_CASE("nesting: TOML strings, quoted keys and comments do not count", "[nesting]") {
  std::string many(500, '[');
  std::string dots(500, '.');
  CHECK(check_toml_limits("a = \"" + many + "\"\nb = '" + many + "'\n# " + many + "\n", "f"));
  CHECK(check_toml_limits("c = \"\"\"\n" + many + "\n\"\"\"\nd = '''" + many + "'''\n", "f"));
  CHECK(check_toml_limits("[\"" + dots + "\"]\n'" + dots + "' = 1\n", "f"));
  auto after_string = check_toml_limits("s = \"\"\"\n\n\"\"\"\n" + toml_header(kMaxTomlNesting), "f");
  REQUIRE_FALSE(after_string);
  CHECK(after_string.error().where == "f:4");  // lines inside the string are counted
}

TEST_CASE("size: a TOML text of 4 MiB passes, one byte more is refused naming the file", "[nesting][config]") {
  std::string at_limit = "#" + std::string(kMaxTomlBytes - 2, 'x') + "\n";
  CHECK(check_toml_limits(at_limit, "big.toml"));
  auto big = check_toml_limits(at_limit + "\n", "big.toml");
  REQUIRE_FALSE(big);
  CHECK(big.error().to_string() == "big.toml: larger than 4194304 bytes");
  auto c = parse_config(at_limit + "\n", "/cfg/big.toml");
  REQUIRE_FALSE(c);
  CHECK(c.error().front().to_string() == "/cfg/big.toml: larger than 4194304 bytes");
}

TEST_CASE("nesting: a TOML header of 100,000 parts fails check-config's parse with file:line", "[nesting][config]") {
  auto c = parse_config("[site]\nid = \"s\"\n" + toml_header(100'000), "/cfg/deep.toml");
  REQUIRE_FALSE(c);
  CHECK(c.error().front().to_string() == "/cfg/deep.toml:3: TOML nested deeper than 64 levels");
}

TEST_CASE("nesting: a report nesting 120,000 arrays (240 KB) is refused by the shared report parser", "[nesting][report]") {
  std::string text = nested_report(120'000);
  REQUIRE(text.size() > 120'000);
  auto r = report::parse_signed_report(text);
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "JSON nested deeper than 64 levels (at line 1, column 154)");
  // At the limit it gets as far as the members it needs.
  auto shallow = report::parse_signed_report(nested_report(kMaxJsonNesting - 1));
  REQUIRE_FALSE(shallow);
  CHECK(shallow.error().message.find("missing or mistyped member") != std::string::npos);
}
