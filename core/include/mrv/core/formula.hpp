#pragma once
// A methodology's formula (RE_p = EG_p * EF_grid, ...): an expression over named
// parameters in muparser's syntax (+ - * / ^, parentheses, min, max, abs, ...), whose
// result is declared in a unit. compile() refuses a formula whose dimension is not its
// declared unit's, or that adds unlike quantities: it evaluates the expression with its
// parameters' base quantities rescaled and checks that the result scales as the declared
// unit does (a formula that is not a product of powers of its quantities does not scale
// at all). Values go in and come out in the units declared, converted through the base
// units. Not thread-safe (muparser keeps state): one Formula per thread.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mrv/core/error.hpp"
#include "mrv/core/units.hpp"

namespace mrv {

class Formula {
 public:
  // `parameters`: every name the expression may use, with its unit.
  [[nodiscard]] static Result<Formula> compile(const std::string& expression,
                                               const std::map<std::string, Unit>& parameters,
                                               const Unit& result_unit);
  Formula(Formula&&) noexcept;
  Formula& operator=(Formula&&) noexcept;
  ~Formula();

  // The result in the declared unit; every parameter the expression uses must have a
  // value (in its own unit). Errors: a missing value, or a result that is not finite.
  [[nodiscard]] Result<double> evaluate(const std::map<std::string, double>& values) const;
  const std::string& expression() const;
  // The parameter and formula ids the expression uses.
  std::vector<std::string> uses() const;

 private:
  struct Impl;
  explicit Formula(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mrv
