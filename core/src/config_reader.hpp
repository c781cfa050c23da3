#pragma once
// Reading a TOML file into typed structs while collecting every error with file:line and
// key path (shared by the agent's and the registry's config).
#include <filesystem>
#include <initializer_list>
#include <regex>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "mrv/core/config.hpp"
#include "mrv/core/error.hpp"
#include "mrv/core/text_limits.hpp"  // check_toml_limits, called before every toml::parse

namespace mrv {

// Collects every error with file:line and key path while the typed structs are filled.
class ConfigReader {
 public:
  ConfigReader(std::string file) : file_(std::move(file)) {}

  // Whether files a config names (certificates, secrets) must be readable now: yes for
  // an agent about to run; no for a config read as a record of what a site ran.
  bool check_files = true;

  void error(const toml::node* node, const std::string& path, const std::string& message) {
    std::string where = file_;
    if (node && node->source().begin.line > 0)
      where += ":" + std::to_string(node->source().begin.line);
    where += ": " + path;
    errors_.push_back(Error{ErrorCode::config, where, message});
  }

  // Unknown keys are errors: a misspelt key must not silently fall back to a default.
  void only_keys(const toml::table& table, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
    for (auto&& [k, v] : table) {
      bool known = false;
      for (auto a : allowed) known = known || a == k.str();
      if (!known) error(&v, join(path, std::string(k.str())), "unknown key");
    }
  }

  const toml::table* table(const toml::table& parent, const std::string& path,
                           std::string_view key, bool required) {
    const toml::node* n = parent.get(key);
    if (!n) {
      if (required) error(&parent, join(path, std::string(key)), "missing required table");
      return nullptr;
    }
    if (!n->is_table()) {
      error(n, join(path, std::string(key)), "must be a table");
      return nullptr;
    }
    return n->as_table();
  }

  // An optional array of tables ([[path.key]]); nullptr when absent or not one (an error).
  const toml::array* array_of_tables(const toml::table& parent, const std::string& path, std::string_view key) {
    const toml::node* n = parent.get(key);
    if (!n) return nullptr;
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables()) {
      std::string full = join(path, std::string(key));
      error(n, full, "must be an array of tables ([[" + full + "]])");
      return nullptr;
    }
    return a;
  }

  std::string string(const toml::table& t, const std::string& path, std::string_view key,
                     bool required, std::string fallback = {}) {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) error(&t, join(path, std::string(key)), "missing required key");
      return fallback;
    }
    if (auto v = n->value<std::string>()) {
      if (required && v->empty()) error(n, join(path, std::string(key)), "must not be empty");
      return *v;
    }
    error(n, join(path, std::string(key)), "must be a string");
    return fallback;
  }

  int64_t integer(const toml::table& t, const std::string& path, std::string_view key,
                  int64_t fallback, int64_t min, int64_t max) {
    const toml::node* n = t.get(key);
    if (!n) return fallback;
    auto v = n->value_exact<int64_t>();
    if (!v) {
      error(n, join(path, std::string(key)), "must be an integer");
      return fallback;
    }
    if (*v < min || *v > max) {
      error(n, join(path, std::string(key)),
            "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return fallback;
    }
    return *v;
  }

  // A string that must be one of `choices`.
  std::string choice(const toml::table& t, const std::string& path, std::string_view key,
                     std::initializer_list<std::string_view> choices, std::string fallback) {
    std::string v = string(t, path, key, false, fallback);
    for (auto c : choices)
      if (c == v) return v;
    std::string list;
    for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
    error(t.get(key), join(path, std::string(key)), "must be one of: " + list);
    return fallback;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

  std::vector<Error> errors_;

 private:
  std::string file_;
};

inline std::filesystem::path resolve(const std::filesystem::path& config_file, const std::string& p) {
  std::filesystem::path path(p);
  if (path.is_absolute() || p.empty()) return path;
  return config_file.parent_path() / path;
}

inline bool is_valid_id(const std::string& id) {
  static const std::regex kId("[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}");
  return std::regex_match(id, kId);
}

// Reads [monitoring] (monitoring_config.cpp), after [[points]].
void read_monitoring(ConfigReader& r, const toml::table& root, Config& c);

}  // namespace mrv
