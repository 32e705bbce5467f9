// Portable micro-kernel: plain loops the compiler vectorises for the baseline ISA.
#include "common/cpu_features.h"
#include "gemm/ukernel.h"

namespace pcn::gemm {

void sgemm_ukernel_6x16_ref(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                            int flags, const float* bias_m, const float* bias_n) {
  float acc[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * NR;
    const float* ak = a + k * MR;
    for (int64_t i = 0; i < MR; ++i) {
      const float ai = ak[i];
      for (int64_t j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
    }
  }
  for (int64_t i = 0; i < MR; ++i) {
    float* ci = c + i * ldc;
    for (int64_t j = 0; j < NR; ++j) {
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

UkernelFn select_ukernel() {
#ifdef PCN_HAVE_AVX2
  if (current_isa() == Isa::avx2) return &sgemm_ukernel_6x16_avx2_fma;
#endif
  return &sgemm_ukernel_6x16_ref;
}

}  // namespace pcn::gemm
