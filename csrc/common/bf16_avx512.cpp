// float32 -> bfloat16 by VCVTNEPS2BF16 (AVX512-BF16; this file alone gets -mavx512bf16).
// The instruction rounds to nearest even, flushes subnormal inputs to signed zero and quiets
// NaN, which is the rounding bf16.h defines (tests/test_packed_linear.py checks the bits).
#include <immintrin.h>

#include "common/bf16.h"

// GCC 12's _mm512_cvtepu16_epi32 / _mm512_slli_epi32 pass an undefined vector that warns as
// maybe-uninitialized at every inlining (GCC PR 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pcn {

void to_bf16_bits_avx512bf16(const float* src, uint16_t* dst, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + i));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), reinterpret_cast<const __m256i&>(h));
  }
  if (i < n) {
    const __mmask16 mk = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, src + i));
    _mm256_mask_storeu_epi16(dst + i, mk, reinterpret_cast<const __m256i&>(h));
  }
}

void round_to_bf16_avx512bf16(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) {
    const int64_t left = n - i;
    const __mmask16 mk = left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mk, src + i));
    // bf16 -> float32: the 16 bits become the top half of the word.
    const __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<const __m256i&>(h)), 16);
    _mm512_mask_storeu_ps(dst + i, mk, _mm512_castsi512_ps(w));
  }
}

}  // namespace pcn
