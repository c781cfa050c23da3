#pragma once
// Units of monitored parameters (docs/report-format.md, issue 7): a dimension, as
// exponents of five base quantities, and the factor to the base unit of that dimension.
//   energy kWh · time h · CO2 mass tCO2 · volume m3 · mass kg
// So kW is kWh/h, tCO2/MWh is tCO2·kWh⁻¹ × 0.001, and a COP (kW/kW) is dimensionless.
// Text forms: a product of known units with '*' and at most one '/' ("tCO2/MWh",
// "kWh*h/m3"), "1" or "" for a pure number, "%" for a hundredth.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "mrv/core/error.hpp"

namespace mrv {

inline constexpr size_t kBaseQuantities = 5;  // energy, time, co2, volume, mass

struct Unit {
  std::array<int, kBaseQuantities> dimension{};  // exponents
  double factor = 1.0;                           // value in base units = value × factor
  std::string text;                              // as written

  bool same_dimension(const Unit& other) const { return dimension == other.dimension; }
  std::string dimension_text() const;  // "energy·time⁻¹" style, for errors
};

[[nodiscard]] Result<Unit> parse_unit(std::string_view text);
// `value` in `from` expressed in `to`; an error when the dimensions differ.
[[nodiscard]] Result<double> convert(double value, const Unit& from, const Unit& to);

}  // namespace mrv
