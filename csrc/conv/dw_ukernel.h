// Micro-kernels of the weight gradient read from a channels-last image in place:
//
//   C[i][j] (+)= sum_k A[k][i] * B_k[j]
//
// A is dY packed as usual (MR rows interleaved, a[k * MR + i]); B_k = bbase + boff[k] is the
// 16 (8 * V) consecutive channels of the input pixel under output position k, read straight
// from the padded HWC copy (im2col_hwc_pack.h) instead of being copied into a panel first.
// kAccumulate adds into C. The k loop is sequential: the same sum order as the packed path.
#pragma once
#include <cstdint>

#include "gemm/ukernel.h"

namespace pcn::conv {

using DwUkernelFn = void (*)(int64_t kc, const float* a, const float* bbase, const int64_t* boff,
                             float* c, int64_t ldc, int flags);

// The wide form (as gemm::WideUkernels): up to 12 rows (dY panels ir and ir + MR, MR * kc
// floats apart) and 16 * v columns, the second 16 read from bbase1 + boff[k]. tile[r - 1][v - 1].
using DwWideUkernelFn = void (*)(int64_t kc, const float* a, const float* bbase0,
                                 const float* bbase1, const int64_t* boff, float* c, int64_t ldc,
                                 int flags);
struct DwWideUkernels {
  DwWideUkernelFn tile[gemm::kWideRows][2];
};

struct DwUkernels {
  DwUkernelFn rows[gemm::MR];  // rows[r - 1]: r <= 6 rows of dW, 16 columns
  const DwWideUkernels* wide = nullptr;  // when set, used instead of `rows`
};

const DwUkernels& dw_ukernels_ref();
#ifdef PCN_HAVE_AVX2
const DwUkernels& dw_ukernels_avx2_fma();
#endif
#ifdef PCN_HAVE_AVX512
const DwWideUkernels& dw_wide_ukernels_avx512();
#endif
const DwUkernels& select_dw_ukernels();

}  // namespace pcn::conv
