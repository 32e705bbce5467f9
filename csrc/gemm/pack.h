// Packing of GEMM operands into the panels the micro-kernel reads (see ukernel.h).
#pragma once
#include <cstdint>

#include "common/aligned_buffer.h"
#include "gemm/ukernel.h"

namespace pcn::gemm {

// Element (i, j) of a strided matrix is p[i * rs + j * cs].
struct StridedMatrix {
  const float* p;
  int64_t rs, cs;
};

// The whole of A (m x k) packed once per call: for each k block (KC, or KC_NARROW for at most
// MC rows: see kc_block()), its MR-row panels,
// each kc x MR by columns, zero-padded to a multiple of MR rows. Threads share it read-only.
class PackedA {
 public:
  void pack(StridedMatrix a, int64_t m, int64_t k);
  int64_t m() const { return m_; }
  int64_t k() const { return k_; }
  int64_t kc_block() const { return kcb_; }
  int64_t bytes() const { return static_cast<int64_t>(buf_.size() * sizeof(float)); }
  // Panel of rows [ir, ir + MR) for the KC block starting at pc (ir a multiple of MR).
  const float* panel(int64_t pc, int64_t kc, int64_t ir) const {
    return buf_.data() + pc * mpad_ + ir * kc;
  }

 private:
  AlignedBuffer buf_;
  int64_t m_ = 0, k_ = 0, mpad_ = 0, kcb_ = 1;
};

// A source of B: packs rows [k0, k0 + kc) and columns [n0, n0 + nc) of B into NR-column
// panels (panel j at dst + j * kc * NR, rows of NR floats, zero-padded past nc). `dst` has
// NR floats of slack past the block, which a packer may scribble on.
// Convolution supplies one that reads the image directly (im2col fused into packing).
class BPacker {
 public:
  virtual ~BPacker() = default;
  virtual void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const = 0;
  // How many NR-column panels of kc rows to pack at once where the GEMM would otherwise pack
  // one panel right before its use (sgemm.cpp).
  virtual int64_t panels_per_pack(int64_t kc) const { return 1; }
  // B packed once, ahead of the GEMM (a frozen layer's weights): the panels of rows
  // [k0, k0 + kc) from column n0 on (n0 a multiple of NR), laid out as pack() would write
  // them, to be read in place. nullptr (the default) means call pack(). A packer that returns
  // panels must do so for every (k0, kc) the driver asks for, i.e. its k blocks must be those
  // of PackedA::kc_block().
  virtual const float* prepacked(int64_t k0, int64_t kc, int64_t n0) const { return nullptr; }
};

class StridedBPacker final : public BPacker {
 public:
  explicit StridedBPacker(StridedMatrix b);
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override;
  int64_t panels_per_pack(int64_t kc) const override;

 private:
  StridedMatrix b_;
  // B with contiguous columns (rs == 1) on the avx512 tier: packed by 16 x 16 transposes.
  bool transposed_avx512_;
  // Row-major B whose row stride is a multiple of 4 KB: every row's first line falls in the
  // same L1 and L2 sets (and in 8 of the L3's), so lines fetched for one panel are evicted
  // before the next panel uses the rest of them. Such a B is read along its rows instead,
  // 4 KB of each row at a time.
  bool aliased_rows_;
};

#ifdef PCN_HAVE_AVX512
// StridedBPacker::pack for B with contiguous columns (element (k, j) at b[j * cs + k]).
void pack_b_transposed_avx512(const float* b, int64_t cs, int64_t k0, int64_t kc, int64_t n0,
                              int64_t nc, float* dst);
#endif

}  // namespace pcn::gemm
