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

void gemm_block(const Ukernels& uk, const PackedA& a, const BPacker& b, int64_t m0, int64_t m1,
                int64_t n0, int64_t n1, float* c, int64_t ldc, bool accumulate,
                const Epilogue& ep, AlignedBuffer& bbuf) {
  const int64_t k = a.k();
  if (m0 >= m1 || n0 >= n1) return;
  if (k == 0) {
    epilogue_only(m0, m1, n0, n1, c, ldc, accumulate, ep);
    return;
  }
  // When all rows fit one MC block (convolutions: m = output channels), each B panel is
  // packed right before the row panels use it, so it is read from L1 instead of L2/L3.
  const bool panel_at_a_time = m1 - m0 <= MC;
  const int64_t kcb = a.kc_block();
  const WideUkernels* wide = uk.wide;
  // Panels packed at once. The wide kernel takes B panels in pairs within one pack, so an odd
  // count is rounded up (it would be correct, only slower: a 16-column tile per pack).
  int64_t ppp = panel_at_a_time ? b.panels_per_pack(std::min(kcb, k)) : 0;
  if (wide) ppp = (ppp + 1) / 2 * 2;
  const int64_t group = ppp * NR;
  const int64_t ncap = panel_at_a_time ? group : std::min(NC, (n1 - n0 + NR - 1) / NR * NR);
  // Pre-packed B is read where it lies: no scratch, and no reason to pack in small groups.
  const bool prepacked = b.prepacked(0, std::min(kcb, k), n0) != nullptr;
  if (!prepacked) bbuf.resize(static_cast<size_t>(std::min(kcb, k) * ncap + NR));  // + slack (pack.h)
  float* bp = bbuf.data();
  alignas(64) float tile[MR * NR];
  float bias_n_tile[NR];

  // C[ir.., col..] += A panel(s) * B panel for one NR-column panel and rows [i0, i1).
  auto run_panel = [&](const float* bpanel, int64_t pc, int64_t kc, int flags, bool last,
                       int64_t col, int64_t cols, int64_t i0, int64_t i1) {
    const int v = cols > 8 ? 2 : 1;  // vectors of 8 columns the kernel computes
    for (int64_t ir = i0; ir < i1; ir += MR) {
      const int64_t rows = std::min(MR, m1 - ir);
      const UkernelFn kernel = uk.tile[rows - 1][v - 1];  // row edges: only the rows needed
      // m0 is a multiple of MR whenever threads split rows, so ir indexes a panel.
      const float* apanel = a.panel(pc, kc, ir);
      float* cptr = c + ir * ldc + col;
      const float* bm = (last && ep.bias_m) ? ep.bias_m + ir : nullptr;
      const float* bn = (last && ep.bias_n) ? ep.bias_n + col : nullptr;
      if (cols == 8 * v) {
        kernel(kc, apanel, bpanel, cptr, ldc, flags, bm, bn);
        continue;
      }
      // Column edge (not a whole vector): run on a local tile, copy the valid part back.
      if (flags & kAccumulate) {
        for (int64_t i = 0; i < rows; ++i)
          std::memcpy(tile + i * NR, cptr + i * ldc, cols * sizeof(float));
      }
      if (bn) {
        std::fill(bias_n_tile, bias_n_tile + NR, 0.0f);
        std::copy(bn, bn + cols, bias_n_tile);
        bn = bias_n_tile;
      }
      kernel(kc, apanel, bpanel, tile, NR, flags, bm, bn);
      for (int64_t i = 0; i < rows; ++i)
        std::memcpy(cptr + i * ldc, tile + i * NR, cols * sizeof(float));
    }
  };

  // The same for up to 2 * NR columns (two B panels) and rows [i0, i1) in 2 * MR steps.
  auto run_wide = [&](const float* bpanel, int64_t pc, int64_t kc, int flags, bool last,
                      int64_t col, int64_t cols, int64_t i0, int64_t i1) {
    const int v = cols > NR ? 2 : 1;
    for (int64_t ir = i0; ir < i1; ir += kWideRows) {
      const int64_t rows = std::min(kWideRows, i1 - ir);
      const float* bm = (last && ep.bias_m) ? ep.bias_m + ir : nullptr;
      const float* bn = (last && ep.bias_n) ? ep.bias_n + col : nullptr;
      wide->tile[rows - 1][v - 1](kc, a.panel(pc, kc, ir), bpanel, c + ir * ldc + col, ldc,
                                  flags, bm, bn, cols);
    }
  };
  // Columns [j0, j1) of packed block bp (which starts at column jb), rows [i0, i1).
  auto run_panels = [&](const float* bp, int64_t jb, int64_t j0, int64_t j1, int64_t pc,
                        int64_t kc, int flags, bool last, int64_t i0, int64_t i1) {
    if (wide) {
      for (int64_t jr = j0; jr < j1; jr += kWideCols)
        run_wide(bp + (jr - jb) * kc, pc, kc, flags, last, jr, std::min(kWideCols, j1 - jr), i0, i1);
      return;
    }
    for (int64_t jr = j0; jr < j1; jr += NR)
      run_panel(bp + (jr - jb) * kc, pc, kc, flags, last, jr, std::min(NR, j1 - jr), i0, i1);
  };

  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min(NC, n1 - jc);
    for (int64_t pc = 0; pc < k; pc += kcb) {
      const int64_t kc = std::min(kcb, k - pc);
      const bool last = pc + kc == k;
      const int flags = ((accumulate || pc > 0) ? kAccumulate : 0) | ((last && ep.relu) ? kRelu : 0);
      if (prepacked) {
        const float* src = b.prepacked(pc, kc, jc);
        for (int64_t ic = m0; ic < m1; ic += MC) {
          const int64_t mc = std::min(MC, m1 - ic);
          run_panels(src, jc, jc, jc + nc, pc, kc, flags, last, ic, ic + mc);
        }
        continue;
      }
      if (panel_at_a_time) {
        for (int64_t jg = 0; jg < nc; jg += group) {
          const int64_t gcols = std::min(group, nc - jg);
          b.pack(pc, kc, jc + jg, gcols, bp);
          run_panels(bp, jc + jg, jc + jg, jc + jg + gcols, pc, kc, flags, last, m0, m1);
        }
        continue;
      }
      b.pack(pc, kc, jc, nc, bp);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = std::min(MC, m1 - ic);
        run_panels(bp, jc, jc, jc + nc, pc, kc, flags, last, ic, ic + mc);
      }
    }
  }
}

void gemm_packed(const PackedA& a, const BPacker& b, int64_t n, float* c, int64_t ldc,
                 bool accumulate, const Epilogue& ep) {
  const int64_t m = a.m();
  if (m == 0 || n == 0) return;
  const Ukernels& uk = select_ukernel();
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
