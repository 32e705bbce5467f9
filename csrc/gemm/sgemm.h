// Packed, cache-blocked SGEMM (the five loops of BLIS around the micro-kernel).
//
//   C[m x n] = (accumulate ? C : 0) + A[m x k] * B[k x n]  (+ bias_m[i] + bias_n[j], relu)
//
// Threads split only the m and n loops (never k), so every element of C is computed by one
// thread in one fixed order: the result is the same bits for any thread count.
#pragma once
#include <cstdint>

#include "common/aligned_buffer.h"
#include "gemm/pack.h"
#include "gemm/ukernel.h"

namespace pcn::gemm {

// Blocking for a core with 32 KB L1d, 512 KB L2 and a shared L3:
// - KC x NR panel of B (256 x 16 floats = 16 KB) stays in L1 while the MR-row panels of A stream.
// - MC x KC block of A (144 x 256 floats = 144 KB) stays in L2 across all NR panels of B.
// - KC x NC block of B (256 x 2048 floats = 2 MB per thread) sits in L3 across MC blocks.
constexpr int64_t KC = 256;
constexpr int64_t MC = 144;   // multiple of MR (and of 2 * MR, the wide tile)
constexpr int64_t NC = 2048;  // multiple of NR (and of 2 * NR)
// k block when all rows fit one MC block and B is packed one panel at a time (pack.cpp).
constexpr int64_t KC_NARROW = 2048;

struct Epilogue {
  const float* bias_m = nullptr;  // m values, added to row i (convolution bias)
  const float* bias_n = nullptr;  // n values, added to column j (linear bias)
  bool relu = false;
};

// Single-threaded: rows [m0, m1) and columns [n0, n1) of C (C points at element (0, 0)).
// `bbuf` is per-thread scratch, grown as needed.
void gemm_block(const Ukernels& uk, const PackedA& a, const BPacker& b, int64_t m0, int64_t m1,
                int64_t n0, int64_t n1, float* c, int64_t ldc, bool accumulate,
                const Epilogue& ep, AlignedBuffer& bbuf);

// Multi-threaded GEMM on already packed A (split over n, or over m when n is narrow).
void gemm_packed(const PackedA& a, const BPacker& b, int64_t n, float* c, int64_t ldc,
                 bool accumulate, const Epilogue& ep);

// Plain strided operands.
void sgemm(int64_t m, int64_t n, int64_t k, StridedMatrix a, StridedMatrix b, float* c,
           int64_t ldc, bool accumulate, const Epilogue& ep);

}  // namespace pcn::gemm
