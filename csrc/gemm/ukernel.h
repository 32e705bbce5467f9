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

// One ISA's kernels: tile[r - 1][v - 1] computes only the first r rows and 8 * v columns of
// the MR x NR tile (same packed panels, same per-element sum order as the full kernel) and
// reads/writes only those. tile[MR - 1][1] is the full 6 x 16 kernel; the smaller ones serve
// edge tiles, so a 64-row or 32-column edge costs what it computes instead of a full tile.
constexpr int kVecs = 2;  // NR / 8

// A wider tile over the same packed panels: up to 2 * MR rows (A panels ir and ir + MR, which
// PackedA stores MR * kc floats apart) by up to 2 * NR columns (B panels j and j + 1, kc * NR
// floats apart). tile[r - 1][v - 1] computes r <= 12 rows and the first `cols` columns,
// 16 * (v - 1) < cols <= 16 * v, reading and writing only those (masked vectors), so no edge
// goes through a local buffer. Rows past r and B panels past cols are not read. Each element
// is the same sum in the same order as in the MR x NR kernels of the same ISA.
constexpr int64_t kWideRows = 2 * MR;
constexpr int64_t kWideCols = 2 * NR;
using WideUkernelFn = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                               int flags, const float* bias_m, const float* bias_n,
                               int64_t cols);
struct WideUkernels {
  WideUkernelFn tile[kWideRows][2];
};

struct Ukernels {
  UkernelFn tile[MR][kVecs];
  // When set, the driver runs 2 * MR x 2 * NR tiles through it instead of `tile` (sgemm.cpp).
  const WideUkernels* wide = nullptr;
  UkernelFn full() const { return tile[MR - 1][kVecs - 1]; }
};

const Ukernels& ukernels_ref();
#ifdef PCN_HAVE_AVX2
const Ukernels& ukernels_avx2_fma();
#endif
#ifdef PCN_HAVE_AVX512
const WideUkernels& wide_ukernels_avx512();
#endif

// The kernels for the ISA chosen now (pcn::current_isa()).
const Ukernels& select_ukernel();

}  // namespace pcn::gemm
