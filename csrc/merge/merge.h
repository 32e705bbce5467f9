// Merge operations of graph models: element-wise sum and product of several same-shaped
// arrays, and concatenation along one axis.
//
// One portable kernel serves every ISA tier: each loop is a plain element-wise pass that the
// compiler vectorises at the baseline, and these operations are bound by memory, not by
// arithmetic. Work is split over disjoint output ranges; every output element is computed
// by one thread, in the fixed input order below, so results do not depend on the thread count.
#pragma once
#include <cstdint>

namespace pcn::merge {

// y[i] = (((x[0][i] + x[1][i]) + x[2][i]) + ...); n_inputs >= 1, y may alias no input.
void add_forward(const float* const* xs, int64_t n_inputs, int64_t size, float* y);

// y[i] = (((x[0][i] * x[1][i]) * x[2][i]) * ...).
void multiply_forward(const float* const* xs, int64_t n_inputs, int64_t size, float* y);

// dx[i] = g[i] * x[0][i] * x[1][i] * ... (in input order, every input but `skip`).
void multiply_backward(const float* g, const float* const* xs, int64_t n_inputs, int64_t skip,
                       int64_t size, float* dx);

// Concatenation of n_inputs arrays seen as (outer, width[k]) row blocks into y (outer, total):
// row o of y is row o of x[0], then row o of x[1], ...; total = sum of widths.
void concat_forward(const float* const* xs, const int64_t* widths, int64_t n_inputs, int64_t outer,
                    float* y);

// The inverse: dx[k] (outer, width[k]) receives its columns of g (outer, total).
void concat_backward(const float* g, const int64_t* widths, int64_t n_inputs, int64_t outer,
                     float* const* dxs);

}  // namespace pcn::merge
