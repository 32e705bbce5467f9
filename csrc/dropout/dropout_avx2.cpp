// AVX2 dropout: the rng_bits hash of common/rng.h computed for 8 consecutive counters at
// once (re-implemented here, in the anonymous namespace, so no inline helper compiled with
// -mavx2 can be shared with the portable path). Same bits, same mask, same output as the
// portable kernel; tests compare the two.
#include <immintrin.h>

#include <cstdint>

#include "dropout/dropout.h"

namespace pcn::dropout {
namespace {

constexpr uint32_t kMulLo = 0x9E3779B1u;
constexpr uint32_t kMulHi = 0x85EBCA77u;
constexpr uint32_t kFmix1 = 0x85EBCA6Bu;
constexpr uint32_t kFmix2 = 0xC2B2AE35u;

uint32_t bits_scalar(uint64_t key, uint64_t i) {
  uint32_t x = static_cast<uint32_t>(i) * kMulLo + static_cast<uint32_t>(key);
  x ^= static_cast<uint32_t>(i >> 32) * kMulHi + static_cast<uint32_t>(key >> 32);
  x ^= x >> 16;
  x *= kFmix1;
  x ^= x >> 13;
  x *= kFmix2;
  x ^= x >> 16;
  return x;
}

void apply_avx2(const float* x, float* y, int64_t n, uint64_t base, const Params& prm) {
  const uint32_t key_lo = static_cast<uint32_t>(prm.key);
  const uint32_t key_hi = static_cast<uint32_t>(prm.key >> 32);
  const __m256i thr = _mm256_set1_epi32(static_cast<int32_t>(prm.threshold));
  const __m256 scale = _mm256_set1_ps(prm.scale);
  const __m256i f1 = _mm256_set1_epi32(static_cast<int32_t>(kFmix1));
  const __m256i f2 = _mm256_set1_epi32(static_cast<int32_t>(kFmix2));
  // lo32(i) * kMulLo + key_lo for the 8 lanes, advanced by 8 * kMulLo per block (mod 2^32).
  const __m256i lane = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                          _mm256_set1_epi32(static_cast<int32_t>(kMulLo)));
  const __m256i step = _mm256_set1_epi32(static_cast<int32_t>(8u * kMulLo));
  __m256i ctr = _mm256_add_epi32(
      lane, _mm256_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(base) * kMulLo + key_lo)));
  // 32-bit hash of 8 counters whose low words times kMulLo plus key_lo are `c`, and whose
  // high words are those of `g` (a block starts at a multiple of 8, so its 8 counters share them).
  auto hash8 = [&](__m256i c, uint64_t g) {
    __m256i h = _mm256_set1_epi32(
        static_cast<int32_t>(static_cast<uint32_t>(g >> 32) * kMulHi + key_hi));
    __m256i v = _mm256_xor_si256(c, h);
    v = _mm256_xor_si256(v, _mm256_srli_epi32(v, 16));
    v = _mm256_mullo_epi32(v, f1);
    v = _mm256_xor_si256(v, _mm256_srli_epi32(v, 13));
    v = _mm256_mullo_epi32(v, f2);
    return _mm256_xor_si256(v, _mm256_srli_epi32(v, 16));
  };
  // y = x * (v >= thr ? scale : 0); unsigned v >= thr  <=>  max_u32(v, thr) == v.
  auto apply8 = [&](__m256i v, const float* xs, float* ys) {
    __m256i keep = _mm256_cmpeq_epi32(_mm256_max_epu32(v, thr), v);
    __m256 m = _mm256_and_ps(_mm256_castsi256_ps(keep), scale);
    _mm256_storeu_ps(ys, _mm256_mul_ps(_mm256_loadu_ps(xs), m));
  };
  int64_t i = 0;
  const __m256i step2 = _mm256_add_epi32(step, step);
  __m256i ctr1 = _mm256_add_epi32(ctr, step);
  for (; i + 16 <= n; i += 16) {
    const uint64_t g = base + static_cast<uint64_t>(i);
    __m256i v0 = hash8(ctr, g);
    __m256i v1 = hash8(ctr1, g + 8);
    apply8(v0, x + i, y + i);
    apply8(v1, x + i + 8, y + i + 8);
    ctr = _mm256_add_epi32(ctr, step2);
    ctr1 = _mm256_add_epi32(ctr1, step2);
  }
  for (; i + 8 <= n; i += 8) {
    apply8(hash8(ctr, base + static_cast<uint64_t>(i)), x + i, y + i);
    ctr = _mm256_add_epi32(ctr, step);
  }
  for (; i < n; ++i) {
    float m = bits_scalar(prm.key, base + static_cast<uint64_t>(i)) >= prm.threshold ? prm.scale : 0.0f;
    y[i] = x[i] * m;
  }
}

}  // namespace

Kernel kernel_avx2() { return &apply_avx2; }

}  // namespace pcn::dropout
