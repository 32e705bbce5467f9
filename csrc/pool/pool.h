// Pooling kernels (NCHW float32, one (n, c) plane = h*w contiguous floats).
//
// Kernels trust their arguments (the bindings validate everything); they only assert.
// Forward kernels split the N*C*OH output rows across threads; backward kernels split the
// N*C planes (each plane is written by one thread, its windows visited in a fixed order),
// so every result is bit-identical for any thread count.
#pragma once
#include <cstdint>

#include "common/shapes.h"

namespace pcn::pool {

// --- public kernels (dispatch on pcn::current_isa() where an AVX2 variant exists) ---

// y: (n, c, oh, ow). indices (nullable): flat iy * w + ix of the maximum inside its plane.
// A window's maximum is its first largest element in row-major order; a NaN anywhere in
// the window makes the output NaN (the index is that of the last NaN), as in PyTorch.
void max_pool2d_forward(const float* x, float* y, int32_t* indices, const Pool2dShape& s);
// dx (n*c planes of in_plane floats) = scatter-add of grad_y through indices. Returns the
// number of indices outside [0, in_plane) (skipped; the binding raises if non-zero).
int64_t max_pool2d_backward(const float* grad_y, const int32_t* indices, float* dx,
                            int64_t planes, int64_t in_plane, int64_t out_plane);

// Divisor: the window clipped to the padded input (count_include_pad) or to the input.
void avg_pool2d_forward(const float* x, float* y, const Pool2dShape& s, bool count_include_pad);
void avg_pool2d_backward(const float* grad_y, float* dx, const Pool2dShape& s,
                         bool count_include_pad);

// (sum over the window clipped to the input of x^p)^(1/p); s.ph == s.pw == 0.
void lp_pool2d_forward(const float* x, float* y, const Pool2dShape& s, double p);
void lp_pool2d_backward(const float* x, const float* grad_y, float* dx, const Pool2dShape& s,
                        double p);

// y[plane] = mean of the plane; dx[plane, :] = grad_y[plane] / hw.
void global_avg_pool2d_forward(const float* x, float* y, int64_t planes, int64_t hw);
void global_avg_pool2d_backward(const float* grad_y, float* dx, int64_t planes, int64_t hw);
// Means of planes [plane_begin, plane_end), single-threaded (global_avg_pool2d.cpp states the
// summation order every tier keeps, so all give the same bits).
void global_avg_pool2d_planes_ref(const float* x, float* y, int64_t plane_begin, int64_t plane_end,
                                  int64_t hw);

// Whether the AVX2 row kernels cover every output of a row with vector blocks of `block`
// outputs (4 for max, 8 for avg): no left padding, no window past the right edge, a full
// block. The AVX-512 rows measured no faster on such shapes (0.83-1.05x on 28x28 and 56x56
// 2x2/2 maps, benchmarks/compare_isa_pool.py), so the avx512 tier keeps them on AVX2; their
// gain is on the borders, where the AVX2 rows fall back to scalar code.
inline bool avx2_rows_are_vector_blocks(const Pool2dShape& s, int64_t block) {
  return s.pw == 0 && (s.ow - 1) * s.sw + s.kw <= s.w && s.ow >= block;
}

// --- row kernels: output rows [row_begin, row_end) of the n*c*oh rows ---
void max_pool2d_rows_ref(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
                         int64_t row_begin, int64_t row_end);
void avg_pool2d_rows_ref(const float* x, float* y, const Pool2dShape& s, bool count_include_pad,
                         int64_t row_begin, int64_t row_end);
#if defined(PCN_HAVE_AVX2)
// Only for s.sw in {1, 2} (others are delegated by the caller to the _ref rows kernel).
// Bit-identical to the _ref rows kernels.
void max_pool2d_rows_avx2(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
                          int64_t row_begin, int64_t row_end);
void avg_pool2d_rows_avx2(const float* x, float* y, const Pool2dShape& s, bool count_include_pad,
                          int64_t row_begin, int64_t row_end);
#endif
#if defined(PCN_HAVE_AVX512)
// The same contract (s.sw in {1, 2}, bit-identical to _ref), 16 outputs per zmm.
void max_pool2d_rows_avx512(const float* x, float* y, int32_t* indices, const Pool2dShape& s,
                            int64_t row_begin, int64_t row_end);
void avg_pool2d_rows_avx512(const float* x, float* y, const Pool2dShape& s,
                            bool count_include_pad, int64_t row_begin, int64_t row_end);
void global_avg_pool2d_planes_avx512(const float* x, float* y, int64_t plane_begin,
                                     int64_t plane_end, int64_t hw);
#endif

}  // namespace pcn::pool
