// A fully connected layer frozen for serving: y = x W^T + b (then ReLU when asked), with W
// packed once at construction into the layout the kernels read, so a call only streams it.
//
// Layout: B = W^T (in x out) as NR-column panels (gemm/ukernel.h), k blocked by
// gemm::KC_NARROW: block pc holds, for each panel j, kc x NR floats (row kk = the NR weights
// of outputs [j*NR, j*NR+NR) for input pc+kk; zero past `out`). The GEMM driver reads these
// panels in place (no per-call packing), and the batch-1 path (GEMV) streams them once.
// On the avx512 tier, batches past the GEMV run the same panels as 12-row x 32-column tiles
// that read x in place (no A packing; measured 10-47% ahead of the driver on one thread, Zen 5),
// in blocks of MC rows; avx2 and ref use the GEMM driver.
// KC_NARROW is the k block PackedA chooses for at most MC rows, so the GEMM runs the batch in
// blocks of MC rows. Per output element every path (GEMV, 12-row tiles, GEMM driver) computes
// the same sum in the same order as the micro-kernels of the current tier, so a row's result
// does not depend on the batch it comes in; for at most MC rows it is also the result of
// linear_forward on the same tier (float32, and bfloat16 run through the float32 kernels).
//
// Precision::bf16 rounds W (at construction) and x (at each call) to bfloat16, round to
// nearest even, and accumulates in float32: on CPUs with AVX512-BF16 the weights are stored
// as bfloat16 pairs and read by VDPBF16PS; elsewhere the rounded values are kept as float32
// and run through the float32 kernels (an exact emulation of the rounding). bfloat16 pairs:
// block pc holds, per panel j, (kc + 1) / 2 rows of NR pairs (inputs pc + 2q, pc + 2q + 1 of
// one output, low half first). Rounding as in common/bf16.h (subnormals to zero). Batches
// past the GEMV run a 12-row VDPBF16PS kernel with the GEMV's sums (the same bits per row at
// any batch size here too). If the tier is changed away from avx512 after construction, the
// pairs are widened to float32 panels per call (exact) for the float32 micro-kernels on the
// rounded x: same values, another sum order than VDPBF16PS.
#pragma once
#include <cstdint>
#include <string>

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
  Precision precision() const { return precision_; }
  // Bytes held by the packed weights and bias.
  int64_t bytes() const;
  // Which kernel runs for m rows, for summaries: e.g. "gemv avx512", "gemm avx512 prepacked",
  // "gemv bf16 avx512-bf16 dot", "gemm bf16 avx512-bf16 dot", "gemv bf16 emulated avx2".
  std::string kernel_name(int64_t m) const;

 private:
  enum class Path { gemv, gemm, rows, gemv_bf16, gemm_bf16, gemm_bf16_pairs };
  Path path(int64_t m) const;
  // Rows of at most gemm::MC through the GEMM driver on the packed panels; x already rounded
  // for bf16.
  void forward_gemm(int64_t m, const float* x, float* y, bool relu) const;

  int64_t in_, out_;
  Precision precision_;
  // bfloat16 pairs (built where the avx512 tier was current and the CPU has AVX512-BF16);
  // otherwise float32 panels.
  bool bf16_pairs_ = false;
  int64_t npad_ = 0;  // out rounded up to NR
  int64_t kcb_ = 1;   // k block
  AlignedBuffer w_;   // the panels (floats, or bfloat16 pairs in the same bytes)
  AlignedBuffer bias_;
  bool has_bias_ = false;
};

}  // namespace pcn::linear
