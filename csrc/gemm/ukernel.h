// The SGEMM micro-kernel contract (BLIS style).
//
//   C[MR x NR] := (accumulate ? C : 0) + A_panel * B_panel      then, when given,
//   C[i][j] += bias_m[i] + bias_n[j];  C = max(C, 0) if relu
//
// A_panel is MR x kc packed by columns (a[k*MR + i]); B_panel is kc x NR packed by rows
// (b[k*NR + j]), both zero-padded past the matrix edge. C is row-major with stride ldc and
// must hold a full MR x NR tile: the driver routes edge tiles through a local buffer.
// Without kAccumulate, C is only written, never read, so NaN/Inf already in C cannot
// survive (beta = 0 overwrites). The k loop is sequential, so every element of C is the
// same sum in the same order whichever tile or thread computes it.
#pragma once
#include <cstdint>

namespace pcn::gemm {

constexpr int64_t MR = 6;   // rows of C per micro-kernel call
constexpr int64_t NR = 16;  // columns of C per micro-kernel call (two ymm registers)

enum UkernelFlags : int { kAccumulate = 1, kRelu = 2 };

using UkernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                           int flags, const float* bias_m, const float* bias_n);

void sgemm_ukernel_6x16_ref(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                            int flags, const float* bias_m, const float* bias_n);
#ifdef PCN_HAVE_AVX2
void sgemm_ukernel_6x16_avx2_fma(int64_t kc, const float* a, const float* b, float* c,
                                 int64_t ldc, int flags, const float* bias_m,
                                 const float* bias_n);
#endif

// The kernel for the ISA chosen now (pcn::current_isa()).
UkernelFn select_ukernel();

}  // namespace pcn::gemm
