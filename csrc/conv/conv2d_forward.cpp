// Forward convolution: one GEMM per (image, group), Y_g = W_g * im2col(X_g), with the weights
// packed once per call and shared by all threads, im2col fused into the packing of B, and
// bias + ReLU fused into the micro-kernel's epilogue. Threads split the output positions of
// the whole batch, so batch 1 and batch 64 both use every core.
#include <algorithm>
#include <memory>
#include <vector>

#include "common/threading.h"
#include "conv/conv2d.h"
#include "conv/depthwise.h"
#include "conv/direct_conv.h"
#include "conv/im2col_pack.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, bool relu) {
  const int64_t ohw = s.oh * s.ow;
  if (s.n == 0 || s.oc == 0 || ohw == 0) return;
  if (use_depthwise(s)) {
    depthwise_forward(s, x, w, bias, y, relu);
    return;
  }
  if (use_direct_conv(s)) {
    direct_conv_forward(s, x, w, bias, y, relu);
    return;
  }
  const int64_t ocg = s.ocg(), cg = s.cg(), kdim = s.kdim();
  std::vector<gemm::PackedA> packed(s.groups);
  for (int64_t g = 0; g < s.groups; ++g)
    packed[g].pack({w + g * ocg * kdim, kdim, 1}, ocg, kdim);

  const bool pointwise = is_pointwise(s);
  const gemm::Ukernels& uk = gemm::select_ukernel();
  const int64_t total = s.n * ohw;
  // Chunks of whole NR-column tiles (a chunk may span several images), handed out in turn so
  // that a core shared with another process takes fewer (as in direct_conv.cpp): up to 8 per
  // thread of at least 32 tiles. Calls under 64 tiles per thread keep one even chunk per
  // thread: with 4-tile chunks, batch-1 1x1 and 5x5 3->6 layers lost 11-18% (an uneven last
  // chunk, the image padded again per chunk). Column ranges do not change any sum.
  const int64_t tiles = (total + gemm::NR - 1) / gemm::NR;
  parallel_for_dynamic(tiles, dynamic_chunk(tiles, 32), [&](int64_t t0, int64_t t1) {
    thread_local AlignedBuffer bbuf;  // scratch kept between chunks and calls
    thread_local PaddedImage img;
    const int64_t q0 = t0 * gemm::NR, q1 = std::min(total, t1 * gemm::NR);
    for (int64_t b = q0 / ohw; b * ohw < q1; ++b) {
      const int64_t p0 = std::max<int64_t>(q0 - b * ohw, 0);
      const int64_t p1 = std::min<int64_t>(q1 - b * ohw, ohw);
      for (int64_t g = 0; g < s.groups; ++g) {
        const float* xg = x + (b * s.c + g * cg) * s.h * s.w;
        float* yg = y + (b * s.oc + g * ocg) * ohw;
        gemm::Epilogue ep{bias ? bias + g * ocg : nullptr, nullptr, relu};
        if (pointwise) {
          gemm::StridedBPacker pb({xg, s.h * s.w, 1});
          gemm::gemm_block(uk, packed[g], pb, 0, ocg, p0, p1, yg, ohw, false, ep, bbuf);
        } else {
          img.assign(s, xg);
          Im2colBPacker pb(s, img);
          gemm::gemm_block(uk, packed[g], pb, 0, ocg, p0, p1, yg, ohw, false, ep, bbuf);
        }
      }
    }
  });
}

}  // namespace pcn::conv
