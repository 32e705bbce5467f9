// The convolution algorithm of each pass for one shape on one ISA tier. conv2d_forward,
// conv2d_backward and PreparedConv2d (serving) all ask choose_algorithm; no other code compares
// shapes to pick a path. The rules are one table (kRules in conv_plan.cpp), tried in order
// within a pass, the first that holds wins; conv_plan_table() prints it as the Markdown table
// in docs/ARCHITECTURE.md (tests/test_conv_plan.py keeps the two equal).
//
// Names: `depthwise` is the algorithm for one input channel per group; `dw`, as dx, dy and
// db, is a gradient (of the weights); `dh, dw` in Conv2dShape are the dilation.
#pragma once
#include <string>

#include "common/cpu_features.h"
#include "common/shapes.h"

namespace pcn::conv {

enum class Pass {
  forward,     // training and _C.conv2d_forward: the same bits on every call
  serve_fp32,  // a frozen layer of InferenceModel (batch 1 decides)
  serve_bf16,  // the same with precision "bf16"
  grad_input,  // dx of conv2d_backward
  grad_weight  // dw of conv2d_backward
};

enum class Algo {
  depthwise,        // one plane at a time, taps (ky, kx)
  winograd,         // F(4x4, 3x3) transforms and 36 GEMMs
  winograd_f2,      // F(2x2, 3x3) transforms and 16 GEMMs (serving at small batches)
  bf16_dot,         // bfloat16 patches (ky, kx, c) against packed W^T, VDPBF16PS
  direct,           // taps (ky, kx, c) over the padded image, no gather
  im2col_in_place,  // GEMM reading B from the padded image, k = (c, ky, kx)
  pointwise_gemm,   // 1x1: GEMM on the image itself
  im2col_gemm,      // GEMM with B gathered from the padded image, k = (c, ky, kx)
  transposed_conv,  // dx as the forward convolution of dy with rotated weights
  col2im_gemm,      // dx: W^T * dY, then col2im
  hwc_in_place,     // dw: GEMM reading B from a channels-last copy in place, k = (ky, kx, c)
  hwc_gemm          // dw: GEMM packing B from a channels-last copy, k = (ky, kx, c)
};

// The algorithm for s (s.n images). Rules of the serving passes that hold only up to some
// batch size say so in the table.
Algo choose_algorithm(const Conv2dShape& s, Isa isa, Pass pass);

// What a served layer runs for every batch size (s.n is ignored): `small` for batches of up to
// small_batch images, `large` for larger ones; small_batch is 0 (and small == large) when the
// rule that holds at batch 1 holds at every batch.
struct ServingChoice {
  Algo small;
  int64_t small_batch;
  Algo large;
};
ServingChoice choose_serving(const Conv2dShape& s, Isa isa, Pass pass);
const char* algo_name(Algo a);
const char* pass_name(Pass p);

// The rules as a Markdown table: pass, algorithm, when (first that holds), order of the sum.
std::string conv_plan_table();

// Winograd's speed rule (measurements in conv_plan.cpp), also for its benchmark and tests.
// Implies winograd_applies. The batch s.n counts only on maps under 16x16 (fewer tiles than a
// vector holds at batch 1), so a serving engine that meets several batch sizes asks with the
// smallest (PreparedConv2d: 1).
bool winograd_pays(const Conv2dShape& s, Isa isa);
// A 1x1 layer the serving plan runs direct: whether the map is small enough for that at every
// batch size (else the direct path is for batch 1 only, and larger batches run the GEMM).
bool pointwise_direct_at_any_batch(const Conv2dShape& s);

}  // namespace pcn::conv
