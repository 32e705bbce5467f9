#include "gemm/sgemm.h"

#include <algorithm>
#include <cstring>

#include "common/threading.h"

namespace pcn::gemm {
namespace {

// K == 0: C = (accumulate ? C : 0) + bias, relu.
void epilogue_only(int64_t m0, int64_t m1, int64_t n0, int64_t n1, float* c, int64_t ldc,
                   bool accumulate, const Epilogue& ep) {
  for (int64_t i = m0; i < m1; ++i)
    for (int64_t j = n0; j < n1; ++j) {
      float v = accumulate ? c[i * ldc + j] : 0.0f;
      if (ep.bias_m) v += ep.bias_m[i];
      if (ep.bias_n) v += ep.bias_n[j];
      if (ep.relu && v < 0.0f) v = 0.0f;
      c[i * ldc + j] = v;
    }
}

}  // namespace

void gemm_block(UkernelFn ukernel, const PackedA& a, const BPacker& b, int64_t m0, int64_t m1,
                int64_t n0, int64_t n1, float* c, int64_t ldc, bool accumulate,
                const Epilogue& ep, AlignedBuffer& bbuf) {
  const int64_t k = a.k();
  if (m0 >= m1 || n0 >= n1) return;
  if (k == 0) {
    epilogue_only(m0, m1, n0, n1, c, ldc, accumulate, ep);
    return;
  }
  const int64_t ncap = std::min(NC, (n1 - n0 + NR - 1) / NR * NR);
  bbuf.resize(static_cast<size_t>(std::min(KC, k) * ncap));
  float* bp = bbuf.data();
  alignas(64) float tile[MR * NR];
  float bias_m_tile[MR], bias_n_tile[NR];

  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min(NC, n1 - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min(KC, k - pc);
      b.pack(pc, kc, jc, nc, bp);
      const bool last = pc + kc == k;
      const int flags = ((accumulate || pc > 0) ? kAccumulate : 0) | ((last && ep.relu) ? kRelu : 0);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = std::min(MC, m1 - ic);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t cols = std::min(NR, nc - jr);
          const float* bpanel = bp + jr * kc;
          const int64_t col = jc + jr;
          for (int64_t ir = ic; ir < ic + mc; ir += MR) {
            const int64_t rows = std::min(MR, m1 - ir);
            // m0 is a multiple of MR whenever threads split rows, so ir indexes a panel.
            const float* apanel = a.panel(pc, kc, ir);
            float* cptr = c + ir * ldc + col;
            const float* bm = (last && ep.bias_m) ? ep.bias_m + ir : nullptr;
            const float* bn = (last && ep.bias_n) ? ep.bias_n + col : nullptr;
            if (rows == MR && cols == NR) {
              ukernel(kc, apanel, bpanel, cptr, ldc, flags, bm, bn);
              continue;
            }
            // Edge tile: run the same kernel on a full local tile, copy the valid part.
            if (flags & kAccumulate) {
              for (int64_t i = 0; i < rows; ++i)
                std::memcpy(tile + i * NR, cptr + i * ldc, cols * sizeof(float));
            }
            if (bm) {
              std::fill(bias_m_tile, bias_m_tile + MR, 0.0f);
              std::copy(bm, bm + rows, bias_m_tile);
              bm = bias_m_tile;
            }
            if (bn) {
              std::fill(bias_n_tile, bias_n_tile + NR, 0.0f);
              std::copy(bn, bn + cols, bias_n_tile);
              bn = bias_n_tile;
            }
            ukernel(kc, apanel, bpanel, tile, NR, flags, bm, bn);
            for (int64_t i = 0; i < rows; ++i)
              std::memcpy(cptr + i * ldc, tile + i * NR, cols * sizeof(float));
          }
        }
      }
    }
  }
}

void gemm_packed(const PackedA& a, const BPacker& b, int64_t n, float* c, int64_t ldc,
                 bool accumulate, const Epilogue& ep) {
  const int64_t m = a.m();
  if (m == 0 || n == 0) return;
  const UkernelFn uk = select_ukernel();
  const int nt = get_num_threads();
  // Split the wider dimension in whole tiles; each thread owns a block of C.
  const bool split_n = (n + NR - 1) / NR >= nt || (n + NR - 1) / NR >= (m + MR - 1) / MR;
  if (split_n) {
    parallel_for((n + NR - 1) / NR, 1, [&](int64_t t0, int64_t t1) {
      AlignedBuffer bbuf;
      gemm_block(uk, a, b, 0, m, t0 * NR, std::min(n, t1 * NR), c, ldc, accumulate, ep, bbuf);
    });
  } else {
    parallel_for((m + MR - 1) / MR, 1, [&](int64_t t0, int64_t t1) {
      AlignedBuffer bbuf;
      gemm_block(uk, a, b, t0 * MR, std::min(m, t1 * MR), 0, n, c, ldc, accumulate, ep, bbuf);
    });
  }
}

void sgemm(int64_t m, int64_t n, int64_t k, StridedMatrix a, StridedMatrix b, float* c,
           int64_t ldc, bool accumulate, const Epilogue& ep) {
  if (m == 0 || n == 0) return;
  PackedA pa;
  pa.pack(a, m, k);
  StridedBPacker pb(b);
  gemm_packed(pa, pb, n, c, ldc, accumulate, ep);
}

}  // namespace pcn::gemm
