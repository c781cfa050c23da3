#include "mrv/core/units.hpp"

#include <map>
#include <vector>

namespace mrv {
namespace {

constexpr const char* kQuantityNames[kBaseQuantities] = {"energy", "time", "CO2", "volume", "mass"};

struct Known {
  int quantity;  // index into the base quantities; -1: dimensionless
  int exponent;
  double factor;
};

// The units a meter, a methodology or a grid emission factor is written in.
const std::map<std::string, std::vector<Known>, std::less<>>& known_units() {
  static const std::map<std::string, std::vector<Known>, std::less<>> units = {
      {"Wh", {{0, 1, 1e-3}}}, {"kWh", {{0, 1, 1}}}, {"MWh", {{0, 1, 1e3}}}, {"GWh", {{0, 1, 1e6}}},
      {"J", {{0, 1, 1 / 3.6e6}}}, {"kJ", {{0, 1, 1 / 3.6e3}}}, {"MJ", {{0, 1, 1 / 3.6}}}, {"GJ", {{0, 1, 1e3 / 3.6}}},
      {"W", {{0, 1, 1e-3}, {1, -1, 1}}}, {"kW", {{0, 1, 1}, {1, -1, 1}}}, {"MW", {{0, 1, 1e3}, {1, -1, 1}}},
      {"s", {{1, 1, 1 / 3600.0}}}, {"min", {{1, 1, 1 / 60.0}}}, {"h", {{1, 1, 1}}}, {"d", {{1, 1, 24}}},
      {"tCO2", {{2, 1, 1}}}, {"tCO2e", {{2, 1, 1}}}, {"kgCO2", {{2, 1, 1e-3}}}, {"kgCO2e", {{2, 1, 1e-3}}},
      {"gCO2", {{2, 1, 1e-6}}},
      {"m3", {{3, 1, 1}}}, {"Nm3", {{3, 1, 1}}}, {"L", {{3, 1, 1e-3}}},
      {"kg", {{4, 1, 1}}}, {"t", {{4, 1, 1e3}}}, {"g", {{4, 1, 1e-3}}},
      {"1", {{-1, 0, 1}}}, {"%", {{-1, 0, 0.01}}},
  };
  return units;
}

}  // namespace

std::string Unit::dimension_text() const {
  std::string out;
  for (size_t q = 0; q < kBaseQuantities; ++q) {
    if (dimension[q] == 0) continue;
    if (!out.empty()) out += "·";
    out += kQuantityNames[q];
    if (dimension[q] != 1) out += "^" + std::to_string(dimension[q]);
  }
  return out.empty() ? "dimensionless" : out;
}

Result<Unit> parse_unit(std::string_view text) {
  Unit u;
  u.text = std::string(text);
  if (text.empty()) return u;
  size_t slash = text.find('/');
  if (slash != std::string_view::npos && text.find('/', slash + 1) != std::string_view::npos)
    return fail(ErrorCode::invalid_argument, std::string(text), "a unit takes at most one '/'");
  auto side = [&](std::string_view part, int sign) -> Result<void> {
    while (!part.empty()) {
      size_t star = part.find('*');
      std::string_view name = part.substr(0, star);
      part = star == std::string_view::npos ? std::string_view() : part.substr(star + 1);
      auto it = known_units().find(name);
      if (it == known_units().end())
        return fail(ErrorCode::invalid_argument, std::string(text), "unknown unit '" + std::string(name) + "'");
      for (const Known& k : it->second) {
        if (k.quantity >= 0) u.dimension[static_cast<size_t>(k.quantity)] += sign * k.exponent;
        u.factor = sign > 0 ? u.factor * k.factor : u.factor / k.factor;
      }
    }
    return {};
  };
  if (auto r = side(text.substr(0, slash), 1); !r) return tl::unexpected(r.error());
  if (slash != std::string_view::npos) {
    if (slash + 1 == text.size()) return fail(ErrorCode::invalid_argument, std::string(text), "nothing after '/'");
    if (auto r = side(text.substr(slash + 1), -1); !r) return tl::unexpected(r.error());
  }
  return u;
}

Result<double> convert(double value, const Unit& from, const Unit& to) {
  if (!from.same_dimension(to))
    return fail(ErrorCode::invalid_argument, from.text + " -> " + to.text,
                "unit mismatch: " + from.dimension_text() + " is not " + to.dimension_text());
  return value * from.factor / to.factor;
}

}  // namespace mrv
