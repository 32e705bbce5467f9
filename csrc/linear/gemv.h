// Few-row products y = x B (+ bias, relu) on the packed weights of PackedLinear
// (packed_linear.h): each call streams the packed panels once, every loaded weight vector
// serving all rows. Per output element the sum is that of the GEMM micro-kernels of the same
// tier on the same k blocks (k in order within a block, one FMA or one multiply-add per step
// as the tier's micro-kernel does, block sums added in order, then bias, then max(0, v)), so a
// row gives the same bits whether it runs here or through the GEMM, at any batch size.
#pragma once
#include <cstdint>

namespace pcn::linear {

constexpr int64_t kPanel = 16;  // outputs per panel (gemm::NR)

struct GemvArgs {
  int64_t m;       // rows: 1..kGemvMaxRows, any count for the avx512 kernels
  int64_t k;       // inputs (> 0)
  int64_t npad;    // outputs rounded up to kPanel
  int64_t n;       // outputs
  int64_t kcb;     // k block of the packed weights
  const void* x;   // fp32: m rows of k floats; bf16: m rows of (k + 1) / 2 bf16 pairs
  int64_t ldx;     // row stride of x in its elements (floats, or 32-bit pairs)
  const void* w;   // packed weights (floats, or bf16 pairs)
  const float* bias;  // n floats or null
  float* y;
  int64_t ldy;
  bool relu;
};
constexpr int64_t kGemvMaxRows = 8;

// Output panels [p0, p1) of y, all m rows.
using GemvFn = void (*)(const GemvArgs& a, int64_t p0, int64_t p1);

// Float32 weights: block pc (a multiple of kcb, kc = min(kcb, k - pc) rows) starts at
// w + pc * npad; its panel p at + p * kc * kPanel holds kc rows of kPanel floats.
void gemv_ref(const GemvArgs& a, int64_t p0, int64_t p1);
#ifdef PCN_HAVE_AVX2
void gemv_avx2(const GemvArgs& a, int64_t p0, int64_t p1);
#endif
#ifdef PCN_HAVE_AVX512
// Any number of rows (12-row groups).
void gemv_avx512(const GemvArgs& a, int64_t p0, int64_t p1);
// bfloat16 weights (kcb even): block pc starts at (uint16) w + pc * npad; its panel p at
// + p * kc2 * 2 * kPanel, kc2 = (kc + 1) / 2, holds kc2 rows of kPanel pairs (the weights of
// inputs pc + 2q and pc + 2q + 1 of one output, low half first; zero past k). x likewise in
// pairs. VDPBF16PS: needs cpu_has_avx512_bf16().
void gemv_bf16_avx512(const GemvArgs& a, int64_t p0, int64_t p1);
// The same for any number of rows (12-row groups; the same sums, so the same bits).
void gemm_bf16_avx512(const GemvArgs& a, int64_t p0, int64_t p1);
#endif

}  // namespace pcn::linear
