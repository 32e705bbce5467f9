#include "conv/direct_conv.h"

#include <algorithm>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/threading.h"
#include "conv/direct_ukernel.h"
#include "conv/im2col_pack.h"

namespace pcn::conv {

using gemm::MR;
using gemm::NR;

// Measured against the im2col GEMM path (docs/BENCHMARKS.md, 1 and 2 threads): 1.0-1.5x on
// 3x3 and 5x5 layers with 16+ output and 4+ input channels (largest on 14x14 maps, strided
// layers and the transposed convolutions of dx), but 0.92x with 3 input channels, where
// the GEMM's panels are cheap to pack and the direct kernel's per-tap overhead dominates.
bool use_direct_conv(const Conv2dShape& s) {
  return s.groups == 1 && s.kh * s.kw > 1 && s.oc >= NR && s.c >= 4;
}

namespace {

// Kernel rows [ky0, ky1) whose input row oy * sh - pt + ky * dh lies inside the image.
void valid_rows(const Conv2dShape& s, int64_t oy, int64_t& ky0, int64_t& ky1) {
  const int64_t top = oy * s.sh - s.pt;  // input row of ky = 0
  ky0 = top >= 0 ? 0 : std::min<int64_t>(s.kh, (-top + s.dh - 1) / s.dh);
  const int64_t room = s.h - 1 - top;     // ky * dh <= room
  ky1 = room < 0 ? 0 : std::min<int64_t>(s.kh, room / s.dh + 1);
  if (ky1 < ky0) ky1 = ky0;
}

}  // namespace

void direct_conv_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                         float* y, bool relu) {
  const int64_t c = s.c, kw = s.kw, kdim = s.kdim(), oc = s.oc;
  const int64_t hp = s.h + s.pt + s.pb, wp = s.w + s.pl + s.pr;
  const int64_t panels = (oc + NR - 1) / NR;
  const int64_t taps_per_row = c * kw;  // k = (ky, c, kx): one kernel row is a contiguous k range

  // Weights as k x 16 panels of output channels, zero past oc; bias padded the same way.
  AlignedBuffer wb(static_cast<size_t>(panels * kdim * NR));
  AlignedBuffer bb(static_cast<size_t>(panels * NR));
  float* wpk = wb.data();
  if (oc % NR) std::fill(wpk + (panels - 1) * kdim * NR, wpk + panels * kdim * NR, 0.0f);
  // Read the OIHW weights in order (the scattered side is the L1-resident panel).
  parallel_for(oc, 16, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      float* panel = wpk + (o / NR) * kdim * NR + o % NR;
      const float* src = w + o * kdim;
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t ky = 0; ky < s.kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx)
            panel[((ky * c + ci) * kw + kx) * NR] = *src++;
    }
  });
  for (int64_t j = 0; j < panels * NR; ++j) bb.data()[j] = (bias && j < oc) ? bias[j] : 0.0f;
  std::vector<int64_t> koff(static_cast<size_t>(kdim));
  for (int64_t ky = 0; ky < s.kh; ++ky)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t kx = 0; kx < kw; ++kx)
        koff[(ky * c + ci) * kw + kx] = (ci * hp + ky * s.dh) * wp + kx * s.dw;

  const DirectUkernels& uk = select_direct_ukernels();
  const int flags = relu ? gemm::kRelu : 0;
  const float* biasp = bias ? bb.data() : nullptr;
  // Threads take output rows of the whole batch; each row is computed by one thread.
  parallel_for(s.n * s.oh, 1, [&](int64_t r0, int64_t r1) {
    PaddedImage img;
    int64_t loaded = -1;
    alignas(64) float tile[MR * NR];
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / s.oh, oy = r % s.oh;
      if (b != loaded) {
        img.assign(s, x + b * c * s.h * s.w);
        loaded = b;
      }
      int64_t ky0, ky1;
      valid_rows(s, oy, ky0, ky1);
      const int64_t k0 = ky0 * taps_per_row, kc = (ky1 - ky0) * taps_per_row;
      const float* row = img.data() + oy * s.sh * wp;
      for (int64_t p = 0; p < panels; ++p) {
        const int64_t cols = std::min(NR, oc - p * NR);
        const int v = cols > 8 ? 2 : 1;
        const float* bp = wpk + (p * kdim + k0) * NR;
        for (int64_t ox0 = 0; ox0 < s.ow; ox0 += MR) {
          const int64_t rows = std::min(MR, s.ow - ox0);
          uk.tile[rows - 1][v - 1](kc, row + ox0 * s.sw, koff.data() + k0, s.sw, bp, tile, NR,
                                   flags, biasp ? biasp + p * NR : nullptr);
          // Tile (position, channel) -> NCHW.
          float* yb = y + ((b * oc + p * NR) * s.oh + oy) * s.ow + ox0;
          for (int64_t j = 0; j < cols; ++j)
            for (int64_t i = 0; i < rows; ++i) yb[j * s.oh * s.ow + i] = tile[i * NR + j];
        }
      }
    }
  });
}

}  // namespace pcn::conv
