// Portable micro-kernels: plain loops the compiler vectorises for the baseline ISA.
#include "common/cpu_features.h"
#include "gemm/ukernel.h"

namespace pcn::gemm {
namespace {

template <int R, int V>
void ukernel_ref(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, int flags,
                 const float* bias_m, const float* bias_n) {
  constexpr int W = 8 * V;
  float acc[R][W] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * NR;
    const float* ak = a + k * MR;
    for (int i = 0; i < R; ++i) {
      const float ai = ak[i];
      for (int j = 0; j < W; ++j) acc[i][j] += ai * bk[j];
    }
  }
  for (int i = 0; i < R; ++i) {
    float* ci = c + i * ldc;
    for (int j = 0; j < W; ++j) {
      float v = acc[i][j];
      if (flags & kAccumulate) v = ci[j] + v;
      if (bias_m) v += bias_m[i];
      if (bias_n) v += bias_n[j];
      // max(0, v) spelled so that NaN propagates, as in PyTorch.
      if ((flags & kRelu) && v < 0.0f) v = 0.0f;
      ci[j] = v;
    }
  }
}

template <int R>
constexpr UkernelFn row_kernel(int v) { return v == 1 ? &ukernel_ref<R, 1> : &ukernel_ref<R, 2>; }

}  // namespace

const Ukernels& ukernels_ref() {
  static const Ukernels k = {{{row_kernel<1>(1), row_kernel<1>(2)},
                              {row_kernel<2>(1), row_kernel<2>(2)},
                              {row_kernel<3>(1), row_kernel<3>(2)},
                              {row_kernel<4>(1), row_kernel<4>(2)},
                              {row_kernel<5>(1), row_kernel<5>(2)},
                              {row_kernel<6>(1), row_kernel<6>(2)}}};
  return k;
}

const Ukernels& select_ukernel() {
#ifdef PCN_HAVE_AVX512
  if (current_isa() == Isa::avx512) {
    // The 12 x 32 AVX-512 tiles; the 6 x 16 AVX2 ones stay for callers that use `tile`.
    static const Ukernels k = [] {
      Ukernels t = ukernels_avx2_fma();
      t.wide = &wide_ukernels_avx512();
      return t;
    }();
    return k;
  }
#endif
#ifdef PCN_HAVE_AVX2
  if (current_isa() >= Isa::avx2) return ukernels_avx2_fma();
#endif
  return ukernels_ref();
}

}  // namespace pcn::gemm
