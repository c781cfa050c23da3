#include "flat_json.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace mrv::collector {
namespace {

using json = nlohmann::json;

// Builds FlatJson from nlohmann's SAX events, keeping the path as a stack.
class Flattener : public nlohmann::json_sax<json> {
 public:
  Flattener(FlatJson& out, size_t max_depth) : out_(out), max_depth_(max_depth) {}

  bool null() override { return scalar(JsonScalar::Kind::null, "null"); }
  bool boolean(bool v) override { return scalar(JsonScalar::Kind::boolean, v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override {
    return scalar(JsonScalar::Kind::number, std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return scalar(JsonScalar::Kind::number, std::to_string(v));
  }
  bool number_float(number_float_t, const string_t& text) override {
    return scalar(JsonScalar::Kind::number, text);
  }
  bool string(string_t& v) override { return scalar(JsonScalar::Kind::string, v); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(false); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    stack_.back().key = k;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    error_ = "invalid JSON at byte " + std::to_string(position) + ": " + e.what();
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  struct Level {
    bool is_array;
    size_t index = 0;
    std::string key;
  };

  // The pointer of the value being read now, per RFC 6901 (~ as ~0, / as ~1).
  std::string pointer() const {
    std::string p;
    for (const Level& l : stack_) {
      p += '/';
      if (l.is_array) {
        p += std::to_string(l.index);
        continue;
      }
      for (char c : l.key) {
        if (c == '~') p += "~0";
        else if (c == '/') p += "~1";
        else p += c;
      }
    }
    return p;
  }

  void advance() {
    if (!stack_.empty() && stack_.back().is_array) ++stack_.back().index;
  }

  bool scalar(JsonScalar::Kind kind, std::string text) {
    out_.scalars.emplace_back(pointer(), JsonScalar{kind, std::move(text)});
    advance();
    return true;
  }

  bool open(bool is_array) {
    if (stack_.empty()) {
      out_.root_is_array = is_array;
      out_.root_is_object = !is_array;
    }
    if (stack_.size() >= max_depth_) {
      error_ = "JSON nested deeper than " + std::to_string(max_depth_) + " levels";
      return false;
    }
    stack_.push_back({is_array, 0, {}});
    return true;
  }

  bool close() {
    stack_.pop_back();
    advance();
    return true;
  }

  FlatJson& out_;
  size_t max_depth_;
  std::vector<Level> stack_;
  std::string error_;
};

}  // namespace

const JsonScalar* FlatJson::find(std::string_view pointer) const {
  if (by_pointer_.size() != scalars.size()) {  // first lookup, or scalars changed
    by_pointer_.resize(scalars.size());
    for (uint32_t i = 0; i < by_pointer_.size(); ++i) by_pointer_[i] = i;
    std::stable_sort(by_pointer_.begin(), by_pointer_.end(),
                     [&](uint32_t a, uint32_t b) { return scalars[a].first < scalars[b].first; });
  }
  auto it = std::lower_bound(by_pointer_.begin(), by_pointer_.end(), pointer, [&](uint32_t i, std::string_view p) {
    ++pointer_comparisons;
    return std::string_view(scalars[i].first) < p;
  });
  if (it == by_pointer_.end()) return nullptr;
  ++pointer_comparisons;
  return scalars[*it].first == pointer ? &scalars[*it].second : nullptr;
}

Result<FlatJson> flatten_json(std::string_view text, size_t max_depth) {
  FlatJson out;
  Flattener sax(out, max_depth);
  if (!json::sax_parse(text, &sax))
    return fail(ErrorCode::invalid_argument, "", sax.error().empty() ? "invalid JSON" : sax.error());
  return out;
}

}  // namespace mrv::collector
