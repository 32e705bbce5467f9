// A fully connected layer frozen for serving: y = x W^T + b (then ReLU when asked), with W
// packed once at construction into the layout the kernels read, so a call only streams it.
//
// Layout: B = W^T (in x out) as NR-column panels (gemm/ukernel.h), k blocked by
// gemm::KC_NARROW: block pc holds, for each panel j, kc x NR floats (row kk = the NR weights
// of outputs [j*NR, j*NR+NR) for input pc+kk; zero past `out`). The GEMM driver reads these
// panels in place (no per-call packing), and the batch-1 path (GEMV) streams them once.
//
// Precision::bf16 rounds W (at construction) and x (at each call) to bfloat16, round to
// nearest even, and accumulates in float32: on CPUs with AVX512-BF16 the weights are stored
// as bfloat16 pairs and read by VDPBF16PS; elsewhere the rounded values are kept as float32
// and run through the float32 kernels (an exact emulation of the rounding).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/aligned_buffer.h"

namespace pcn::linear {

enum class Precision { fp32, bf16 };

class PackedLinear {
 public:
  // w: (out, in) row-major (PyTorch layout); bias: out floats or null.
  PackedLinear(int64_t in, int64_t out, const float* w, const float* bias, Precision p);
  // x: (m, in), y: (m, out). Thread-safe (const), multi-threaded inside (parallel_for).
  void forward(int64_t m, const float* x, float* y, bool relu) const;
  // Writes back the (out, in) weights as the kernels see them (bf16-rounded for bf16).
  void unpack(float* w) const;
  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  // Bytes held by the packed weights and bias.
  int64_t bytes() const;
  // Which kernel runs for m rows, for summaries: e.g. "gemv avx512", "gemm avx512 prepacked",
  // "gemv bf16 avx512-bf16 dot", "gemm bf16 emulated".
  std::string kernel_name(int64_t m) const;

 private:
  int64_t in_, out_;
  Precision precision_;
  std::vector<float> w_, b_;  // TEMP
};

}  // namespace pcn::linear
