#include "mrv/core/formula.hpp"

#include <muParser.h>

#include <cmath>

namespace mrv {

struct Formula::Impl {
  std::string expression;
  Unit result;
  std::map<std::string, Unit> used;     // the parameters the expression uses
  std::map<std::string, double> slots;  // muparser reads the variables here (stable nodes)
  mu::Parser parser;

  // The expression with every used parameter set to values[name] (already in base units).
  double eval_base(const std::map<std::string, double>& base_values) {
    for (auto& [name, slot] : slots) slot = base_values.at(name);
    return parser.Eval();
  }
};

namespace {

Error formula_error(const std::string& expression, const std::string& message) {
  return Error{ErrorCode::config, "formula '" + expression + "'", message};
}

}  // namespace

Result<Formula> Formula::compile(const std::string& expression, const std::map<std::string, Unit>& parameters,
                                 const Unit& result_unit) {
  auto impl = std::make_unique<Impl>();
  impl->expression = expression;
  impl->result = result_unit;
  try {
    for (const auto& [name, unit] : parameters) {
      impl->slots[name] = 1.0;
      impl->parser.DefineVar(name, &impl->slots[name]);
    }
    impl->parser.SetExpr(expression);
    for (const auto& [name, address] : impl->parser.GetUsedVar()) {
      auto it = parameters.find(name);
      if (it == parameters.end())
        return tl::unexpected(formula_error(expression, "'" + name + "' is not a parameter of the methodology"));
      impl->used.emplace(name, it->second);
    }
  } catch (const mu::Parser::exception_type& e) {
    std::string token = e.GetToken().empty() ? "" : " ('" + e.GetToken() + "')";
    return tl::unexpected(formula_error(expression, e.GetMsg() + token));
  }
  std::map<std::string, Unit> only_used = impl->used;
  impl->slots.clear();
  impl->parser.ClearVar();
  for (const auto& [name, unit] : only_used) {
    impl->slots[name] = 1.0;
    impl->parser.DefineVar(name, &impl->slots[name]);
  }

  // The dimension check: values in base units, each base quantity rescaled in turn.
  auto sample = [&](size_t quantity, double scale) -> Result<double> {
    std::map<std::string, double> values;
    size_t i = 0;
    for (const auto& [name, unit] : only_used) {
      double v = 1.0 + 0.173 * static_cast<double>(++i);  // distinct, positive, not round
      if (quantity < kBaseQuantities) v *= std::pow(scale, unit.dimension[quantity]);
      values[name] = v;
    }
    try {
      return impl->eval_base(values);
    } catch (const mu::Parser::exception_type& e) {
      return tl::unexpected(formula_error(expression, e.GetMsg()));
    }
  };
  auto r0 = sample(kBaseQuantities, 1.0);
  if (!r0) return tl::unexpected(r0.error());
  if (!std::isfinite(*r0)) return tl::unexpected(formula_error(expression, "does not give a finite number"));
  if (*r0 != 0.0) {  // a formula that is 0 (PE_p = 0) fits any unit
    std::array<int, kBaseQuantities> found{};
    for (size_t q = 0; q < kBaseQuantities; ++q) {
      double exponents[2];
      for (int k = 0; k < 2; ++k) {
        double scale = k == 0 ? 2.0 : 3.0;
        auto r = sample(q, scale);
        if (!r) return tl::unexpected(r.error());
        double ratio = *r / *r0;
        exponents[k] = ratio > 0 ? std::log(ratio) / std::log(scale) : NAN;
      }
      double e = std::round(exponents[0]);
      if (!std::isfinite(exponents[0]) || std::abs(exponents[0] - e) > 1e-6 || std::abs(exponents[1] - e) > 1e-6)
        return tl::unexpected(formula_error(
            expression, "mixes quantities of unlike units (adds or compares them, or takes a function of one)"));
      found[q] = static_cast<int>(e);
    }
    if (found != result_unit.dimension) {
      Unit got;
      got.dimension = found;
      return tl::unexpected(formula_error(expression, "unit mismatch: it gives " + got.dimension_text() +
                                                          ", not " + result_unit.dimension_text() + " (" +
                                                          result_unit.text + ") as declared"));
    }
  }
  return Formula(std::move(impl));
}

Formula::Formula(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Formula::Formula(Formula&&) noexcept = default;
Formula& Formula::operator=(Formula&&) noexcept = default;
Formula::~Formula() = default;

const std::string& Formula::expression() const { return impl_->expression; }

std::vector<std::string> Formula::uses() const {
  std::vector<std::string> names;
  for (const auto& [name, unit] : impl_->used) names.push_back(name);
  return names;
}

Result<double> Formula::evaluate(const std::map<std::string, double>& values) const {
  std::map<std::string, double> base;
  for (const auto& [name, unit] : impl_->used) {
    auto it = values.find(name);
    if (it == values.end()) return tl::unexpected(formula_error(impl_->expression, "no value for " + name));
    base[name] = it->second * unit.factor;
  }
  double r;
  try {
    r = impl_->eval_base(base);
  } catch (const mu::Parser::exception_type& e) {
    return tl::unexpected(formula_error(impl_->expression, e.GetMsg()));
  }
  if (!std::isfinite(r)) return tl::unexpected(formula_error(impl_->expression, "result is not a finite number"));
  return r / impl_->result.factor;
}

}  // namespace mrv
