// Portable weight-gradient micro-kernels (dw_ukernel.h), plain loops.
#include "common/cpu_features.h"
#include "conv/dw_ukernel.h"

namespace pcn::conv {
namespace {

template <int R>
void dw_ref(int64_t kc, const float* a, const float* bbase, const int64_t* boff, float* c,
            int64_t ldc, int flags) {
  float acc[R][gemm::NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = bbase + boff[k];
    const float* ak = a + k * gemm::MR;
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < gemm::NR; ++j) acc[i][j] += ak[i] * bk[j];
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < gemm::NR; ++j)
      c[i * ldc + j] = (flags & gemm::kAccumulate) ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

}  // namespace

const DwUkernels& dw_ukernels_ref() {
  static const DwUkernels k = {{&dw_ref<1>, &dw_ref<2>, &dw_ref<3>, &dw_ref<4>, &dw_ref<5>, &dw_ref<6>}};
  return k;
}

const DwUkernels& select_dw_ukernels() {
#ifdef PCN_HAVE_AVX512
  if (current_isa() == Isa::avx512) {
    static const DwUkernels k = [] {
      DwUkernels t = dw_ukernels_avx2_fma();
      t.wide = &dw_wide_ukernels_avx512();
      return t;
    }();
    return k;
  }
#endif
#ifdef PCN_HAVE_AVX2
  if (current_isa() >= Isa::avx2) return dw_ukernels_avx2_fma();
#endif
  return dw_ukernels_ref();
}

}  // namespace pcn::conv
