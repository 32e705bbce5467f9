// bfloat16 rounding (the top 16 bits of a float32), for the bf16 inference precision.
//
// Rounding is to nearest, ties to even. Decisions at the edges, the same as the hardware's
// VCVTNEPS2BF16 (so the avx512 tier may use it and give the same bits):
// - float32 subnormals become a signed zero (VDPBF16PS reads bf16 subnormals as zero anyway);
// - NaN stays NaN, made quiet: sign and the top 7 payload bits kept, bit 6 of the bf16 set;
// - finite values past the largest bf16 round to infinity; infinities stay.
#pragma once
#include <cstdint>

namespace pcn {

// The bfloat16 bit pattern of v.
uint16_t bf16_bits(float v);

// dst[i] = src[i] rounded to bfloat16, kept as a float32 (low 16 bits zero). dst may be src.
// Multi-threaded for long arrays; every element is independent (same bits for any split).
void round_to_bf16(const float* src, float* dst, int64_t n);

// The same, stored as bfloat16 bit patterns.
void to_bf16_bits(const float* src, uint16_t* dst, int64_t n);

#ifdef PCN_HAVE_AVX512
// round_to_bf16 / to_bf16_bits on [0, n) by VCVTNEPS2BF16 (CPUs with AVX512-BF16 only).
void round_to_bf16_avx512bf16(const float* src, float* dst, int64_t n);
void to_bf16_bits_avx512bf16(const float* src, uint16_t* dst, int64_t n);
#endif

}  // namespace pcn
