#include "mrv/report/spreadsheet_formula.hpp"

#include <cctype>
#include <map>
#include <vector>

namespace mrv::report {
namespace {

// A recursive-descent reader of muparser's grammar, lowest precedence first:
// ternary ?:, ||, &&, comparisons, + -, * /, unary - +, ^ (right to left), primary.
class Translator {
 public:
  Translator(const std::string& text, const std::function<std::optional<std::string>(const std::string&)>& cell_of)
      : s_(text), cell_of_(cell_of) {}

  Result<std::string> run() {
    std::string out = ternary();
    skip_space();
    if (error_.empty() && pos_ < s_.size()) error_ = "unexpected '" + s_.substr(pos_, 1) + "'";
    if (!error_.empty())
      return fail(ErrorCode::invalid_argument, "formula '" + s_ + "' at " + std::to_string(pos_ + 1),
                  error_ + ": it cannot be written as a spreadsheet formula");
    return "=" + out;
  }

 private:
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(std::string_view token) {
    skip_space();
    if (s_.compare(pos_, token.size(), token) != 0) return false;
    pos_ += token.size();
    return true;
  }
  bool failed() const { return !error_.empty(); }

  std::string ternary() {
    std::string c = logical_or();
    if (failed() || !eat("?")) return c;
    std::string a = ternary();
    if (!failed() && !eat(":")) error_ = "a '?' without its ':'";
    std::string b = failed() ? "" : ternary();
    return "IF(" + c + "," + a + "," + b + ")";
  }
  std::string logical_or() {
    std::string l = logical_and();
    while (!failed() && eat("||")) l = "OR(" + l + "," + logical_and() + ")";
    return l;
  }
  std::string logical_and() {
    std::string l = comparison();
    while (!failed() && eat("&&")) l = "AND(" + l + "," + comparison() + ")";
    return l;
  }
  std::string comparison() {
    std::string l = additive();
    static const std::vector<std::pair<std::string_view, std::string_view>> ops = {
        {"==", "="}, {"!=", "<>"}, {"<=", "<="}, {">=", ">="}, {"<", "<"}, {">", ">"}};
    for (bool again = true; again && !failed();) {
      again = false;
      for (const auto& [mu, sheet] : ops)
        if (eat(mu)) {
          l = "(" + l + std::string(sheet) + additive() + ")";
          again = true;
          break;
        }
    }
    return l;
  }
  std::string additive() {
    std::string l = multiplicative();
    while (!failed()) {
      if (eat("+")) l = "(" + l + "+" + multiplicative() + ")";
      else if (eat("-")) l = "(" + l + "-" + multiplicative() + ")";
      else break;
    }
    return l;
  }
  std::string multiplicative() {
    std::string l = unary();
    while (!failed()) {
      if (eat("*")) l = "(" + l + "*" + unary() + ")";
      else if (eat("/")) l = "(" + l + "/" + unary() + ")";
      else break;
    }
    return l;
  }
  std::string unary() {
    if (eat("-")) return "(-" + unary() + ")";
    if (eat("+")) return unary();
    return power();
  }
  std::string power() {
    std::string base = primary();
    if (failed() || !eat("^")) return base;
    return "(" + base + "^" + unary() + ")";  // right to left: 2^3^2 = 2^(3^2)
  }
  std::string primary() {
    skip_space();
    if (pos_ >= s_.size()) {
      error_ = "the expression ends early";
      return "";
    }
    if (eat("(")) {
      std::string inner = ternary();
      if (!failed() && !eat(")")) error_ = "a '(' without its ')'";
      return inner;
    }
    char c = s_[pos_];
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return number();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') return name();
    error_ = "unexpected '" + std::string(1, c) + "'";
    return "";
  }
  std::string number() {
    size_t start = pos_;
    auto digits = [&] {
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    };
    digits();
    if (pos_ < s_.size() && s_[pos_] == '.') ++pos_, digits();
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      digits();
    }
    return s_.substr(start, pos_ - start);
  }
  std::string name() {
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_')) ++pos_;
    std::string id = s_.substr(start, pos_ - start);
    if (eat("(")) return call(id);
    if (id == "_pi") return "PI()";
    if (auto cell = cell_of_(id)) return *cell;
    error_ = "unknown name '" + id + "'";
    return "";
  }
  std::string call(const std::string& fn) {
    static const std::map<std::string, std::string, std::less<>> functions = {
        {"min", "MIN"}, {"max", "MAX"},   {"sum", "SUM"},   {"avg", "AVERAGE"}, {"abs", "ABS"},
        {"sqrt", "SQRT"}, {"exp", "EXP"}, {"ln", "LN"},     {"log10", "LOG10"}, {"sign", "SIGN"}};
    auto it = functions.find(fn);
    if (it == functions.end()) {
      error_ = "the function '" + fn + "' has no exact spreadsheet twin here";
      return "";
    }
    std::string args = ternary();
    while (!failed() && eat(",")) args += "," + ternary();
    if (!failed() && !eat(")")) error_ = "'" + fn + "(' without its ')'";
    return it->second + "(" + args + ")";
  }

  const std::string& s_;
  const std::function<std::optional<std::string>(const std::string&)>& cell_of_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

Result<std::string> to_spreadsheet_formula(
    const std::string& expression, const std::function<std::optional<std::string>(const std::string&)>& cell_of) {
  return Translator(expression, cell_of).run();
}

}  // namespace mrv::report
