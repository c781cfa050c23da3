#pragma once
// The swtpm vectors of tests/vectors/tpm/ (README.md there), read whole.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

inline std::string tpm_vector(const std::string& name) {
  std::ifstream in(std::string(MRV_TEST_VECTORS) + "/tpm/" + name, std::ios::binary);
  REQUIRE(in);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
