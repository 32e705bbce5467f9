#include "common/bf16.h"

#include <cstring>

#include "common/cpu_features.h"
#include "common/threading.h"

namespace pcn {
namespace {

// Branch-free on the bits so the loops below vectorise.
inline uint32_t round_bits(uint32_t b) {
  const uint32_t mag = b & 0x7FFFFFFFu;
  const uint32_t rounded = (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
  const uint32_t quiet_nan = (b >> 16) | 0x0040u;
  const uint32_t signed_zero = (b >> 16) & 0x8000u;
  uint32_t r = mag > 0x7F800000u ? quiet_nan : rounded;
  return (b & 0x7F800000u) == 0 ? signed_zero : r;
}

inline uint32_t float_bits(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

bool use_hardware() {
#ifdef PCN_HAVE_AVX512
  return current_isa() == Isa::avx512 && cpu_has_avx512_bf16();
#else
  return false;
#endif
}

constexpr int64_t kGrain = int64_t(1) << 16;

}  // namespace

uint16_t bf16_bits(float v) { return static_cast<uint16_t>(round_bits(float_bits(v))); }

void round_to_bf16(const float* src, float* dst, int64_t n) {
  const bool hw = use_hardware();
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
#ifdef PCN_HAVE_AVX512
    if (hw) {
      round_to_bf16_avx512bf16(src + i0, dst + i0, i1 - i0);
      return;
    }
#endif
    for (int64_t i = i0; i < i1; ++i) {
      const uint32_t r = round_bits(float_bits(src[i])) << 16;
      std::memcpy(dst + i, &r, sizeof r);
    }
  });
}

void to_bf16_bits(const float* src, uint16_t* dst, int64_t n) {
  const bool hw = use_hardware();
  parallel_for(n, kGrain, [&](int64_t i0, int64_t i1) {
#ifdef PCN_HAVE_AVX512
    if (hw) {
      to_bf16_bits_avx512bf16(src + i0, dst + i0, i1 - i0);
      return;
    }
#endif
    for (int64_t i = i0; i < i1; ++i) dst[i] = static_cast<uint16_t>(round_bits(float_bits(src[i])));
  });
}

}  // namespace pcn
