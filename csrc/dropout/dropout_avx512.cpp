// AVX-512 dropout: the rng_bits hash of common/rng.h for 16 consecutive counters at once
// (re-implemented here, in the anonymous namespace, so no inline helper compiled with AVX-512
// flags is shared with the portable path). Same integer hash, so the same mask and the same
// output bits as the portable and AVX2 kernels.
//
// Shape: two 16-lane blocks per iteration, so two independent multiply chains (vpmulld has a
// long latency) overlap. A block's counters g..g+15 share the high word of g unless a multiple
// of 2^32 falls inside the block, which can happen because a call's base is only a multiple of
// 8; the high-word term is therefore built per 8-lane half. The tail (n % 16) is one masked
// block, counters included, so every element gets the same bits wherever it sits.
// GCC 12's AVX-512 intrinsics build their "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "dropout/dropout.h"

namespace pcn::dropout {
namespace {

constexpr uint32_t kMulLo = 0x9E3779B1u;
constexpr uint32_t kMulHi = 0x85EBCA77u;
constexpr uint32_t kFmix1 = 0x85EBCA6Bu;
constexpr uint32_t kFmix2 = 0xC2B2AE35u;

void apply_avx512(const float* x, float* y, int64_t n, uint64_t base, const Params& prm) {
  const uint32_t key_lo = static_cast<uint32_t>(prm.key);
  const uint32_t key_hi = static_cast<uint32_t>(prm.key >> 32);
  const __m512i thr = _mm512_set1_epi32(static_cast<int32_t>(prm.threshold));
  const __m512 scale = _mm512_set1_ps(prm.scale);
  const __m512i f1 = _mm512_set1_epi32(static_cast<int32_t>(kFmix1));
  const __m512i f2 = _mm512_set1_epi32(static_cast<int32_t>(kFmix2));
  // lo32(i) * kMulLo + key_lo for the 16 lanes, advanced by 16 * kMulLo per block (mod 2^32).
  const __m512i lane = _mm512_mullo_epi32(
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
      _mm512_set1_epi32(static_cast<int32_t>(kMulLo)));
  const __m512i step = _mm512_set1_epi32(static_cast<int32_t>(16u * kMulLo));
  __m512i ctr = _mm512_add_epi32(
      lane, _mm512_set1_epi32(static_cast<int32_t>(static_cast<uint32_t>(base) * kMulLo + key_lo)));
  // hi32(i) * kMulHi + key_hi for counters g..g+7 (lanes 0-7) and g+8..g+15 (lanes 8-15); g is
  // a multiple of 8, so each half shares one high word.
  auto high = [&](uint64_t g) {
    const int32_t h0 = static_cast<int32_t>(static_cast<uint32_t>(g >> 32) * kMulHi + key_hi);
    const int32_t h1 =
        static_cast<int32_t>(static_cast<uint32_t>((g + 8) >> 32) * kMulHi + key_hi);
    return _mm512_inserti64x4(_mm512_set1_epi32(h0), _mm256_set1_epi32(h1), 1);
  };
  auto hash16 = [&](__m512i c, __m512i h) {
    __m512i v = _mm512_xor_si512(c, h);
    v = _mm512_xor_si512(v, _mm512_srli_epi32(v, 16));
    v = _mm512_mullo_epi32(v, f1);
    v = _mm512_xor_si512(v, _mm512_srli_epi32(v, 13));
    v = _mm512_mullo_epi32(v, f2);
    return _mm512_xor_si512(v, _mm512_srli_epi32(v, 16));
  };
  // y = x * (v >= thr ? scale : 0) (unsigned compare); dropped lanes multiply by +0, so -x gives
  // -0 and NaN stays NaN as in the other kernels.
  auto mult = [&](__m512i v) {
    return _mm512_maskz_mov_ps(_mm512_cmp_epu32_mask(v, thr, _MM_CMPINT_NLT), scale);
  };
  int64_t i = 0;
  const __m512i step2 = _mm512_add_epi32(step, step);
  __m512i ctr1 = _mm512_add_epi32(ctr, step);
  for (; i + 32 <= n; i += 32) {
    const uint64_t g = base + static_cast<uint64_t>(i);
    const __m512i v0 = hash16(ctr, high(g));
    const __m512i v1 = hash16(ctr1, high(g + 16));
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), mult(v0)));
    _mm512_storeu_ps(y + i + 16, _mm512_mul_ps(_mm512_loadu_ps(x + i + 16), mult(v1)));
    ctr = _mm512_add_epi32(ctr, step2);
    ctr1 = _mm512_add_epi32(ctr1, step2);
  }
  if (i + 16 <= n) {
    const __m512i v = hash16(ctr, high(base + static_cast<uint64_t>(i)));
    _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), mult(v)));
    ctr = _mm512_add_epi32(ctr, step);
    i += 16;
  }
  if (i < n) {
    const __mmask16 k = static_cast<__mmask16>((1u << (n - i)) - 1u);
    const __m512i v = hash16(ctr, high(base + static_cast<uint64_t>(i)));
    _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), mult(v)));
  }
}

}  // namespace

Kernel kernel_avx512() { return &apply_avx512; }

}  // namespace pcn::dropout
