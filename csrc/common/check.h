// Argument checks for the binding layer. PCN_CHECK throws std::invalid_argument,
// which pybind11 turns into ValueError; messages name the argument and the rule.
#pragma once
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace pcn {

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

#define PCN_CHECK(cond, ...)                                      \
  do {                                                            \
    if (!(cond)) throw std::invalid_argument(::pcn::cat(__VA_ARGS__)); \
  } while (0)

// Overflow-checked size arithmetic: absurd shapes raise instead of wrapping.
inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    throw std::invalid_argument(cat(what, " is too large (size arithmetic overflows)"));
  return r;
}
inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw std::invalid_argument(cat(what, " is too large (size arithmetic overflows)"));
  return r;
}

// Largest element count we agree to allocate for one buffer (16 GiB of floats).
constexpr int64_t kMaxElements = int64_t(1) << 32;

}  // namespace pcn
