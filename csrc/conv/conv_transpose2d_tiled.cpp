// Weight gradient of a transposed convolution whose kernel tiles the output (kernel == stride,
// no padding, dilation or output_padding: the U-Net decoder's 2x2 stride 2). Each input pixel
// then owns one kh x kw patch of the output, so with G_b the patches of dy_b as columns
// (space-to-depth: row (o, ky, kx), column (iy, ix)) the gradient is a plain GEMM per image:
//   dW_g += X_bg * G_bg^T        (in/groups x h*w) * (h*w x out/groups*kh*kw)
// The general path (conv2d_grad_weight) reaches the same sums through a strided convolution,
// transposing every dy image to channels-last and reading it 16 channels at a time: 1.8x
// slower on the decoder layer (64 -> 32, 32x32 input, one thread).
#include <algorithm>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/threading.h"
#include "conv/conv_transpose2d.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

bool output_tiled_by_kernel(const ConvTranspose2dShape& t) {
  return t.kh == t.sh && t.kw == t.sw && t.kh * t.kw > 1 && t.ph == 0 && t.pw == 0 && t.oph == 0 &&
         t.opw == 0 && t.dh == 1 && t.dw == 1;
}

namespace {

// Images per chunk when the batch is split between threads: each chunk's partial dW is summed
// by one thread, and the partials are added in chunk order, so the split never depends on the
// thread count (as conv2d_grad_weight.cpp does). Partials are bounded to 8 MB.
constexpr int64_t kChunkImages = 8;
constexpr int64_t kPartialsMaxFloats = int64_t(1) << 21;

// G[(o, ky, kx)][(iy, ix)] = dy[o][iy * kh + ky][ix * kw + kx] for rows [r0, r1) of one image.
void space_to_depth(const ConvTranspose2dShape& t, const float* dy, int64_t r0, int64_t r1, float* g) {
  const int64_t hw = t.h * t.w, kk = t.kh * t.kw;
  for (int64_t row = r0; row < r1; ++row) {
    const int64_t o = row / kk, ky = (row % kk) / t.kw, kx = row % t.kw;
    const float* src = dy + (o * t.oh + ky) * t.ow + kx;
    float* dst = g + row * hw;
    for (int64_t iy = 0; iy < t.h; ++iy) {
      const float* s = src + iy * t.kh * t.ow;
      for (int64_t ix = 0; ix < t.w; ++ix) dst[iy * t.w + ix] = s[ix * t.kw];
    }
  }
}

}  // namespace

void conv_transpose2d_grad_weight_tiled(const ConvTranspose2dShape& t, const float* x, const float* dy,
                                        float* dw) {
  const int64_t hw = t.h * t.w, kk = t.kh * t.kw, rows = t.oc * kk;
  const int64_t cig = t.c / t.groups, cols = (t.oc / t.groups) * kk;  // dW_g is cig x cols
  const int64_t size = t.c * cols, dy_image = t.oc * t.oh * t.ow;
  const gemm::Ukernels& uk = gemm::select_ukernel();
  const int64_t nchunks = (t.n + kChunkImages - 1) / kChunkImages;
  if (t.n >= 2 * kChunkImages && nchunks * size <= kPartialsMaxFloats) {
    AlignedBuffer partial(static_cast<size_t>(nchunks * size));
    parallel_for(nchunks, 1, [&](int64_t c0, int64_t c1) {
      AlignedBuffer g(static_cast<size_t>(rows * hw)), bbuf;
      gemm::PackedA xa;
      for (int64_t c = c0; c < c1; ++c) {
        const int64_t b0 = c * kChunkImages, b1 = std::min(t.n, b0 + kChunkImages);
        for (int64_t b = b0; b < b1; ++b) {
          space_to_depth(t, dy + b * dy_image, 0, rows, g.data());
          for (int64_t grp = 0; grp < t.groups; ++grp) {
            xa.pack({x + (b * t.c + grp * cig) * hw, hw, 1}, cig, hw);
            gemm::StridedBPacker pb({g.data() + grp * cols * hw, 1, hw});
            gemm::gemm_block(uk, xa, pb, 0, cig, 0, cols, partial.data() + c * size + grp * cig * cols, cols,
                             b > b0, {}, bbuf);
          }
        }
      }
    });
    const float* p = partial.data();
    parallel_for(size, 1024, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float acc = p[i];
        for (int64_t c = 1; c < nchunks; ++c) acc += p[c * size + i];
        dw[i] = acc;
      }
    });
    return;
  }
  // Few images: each one's reordering and GEMM are split between the threads instead.
  AlignedBuffer g(static_cast<size_t>(rows * hw));
  gemm::PackedA xa;
  for (int64_t b = 0; b < t.n; ++b) {
    parallel_for(rows, 1, [&](int64_t r0, int64_t r1) { space_to_depth(t, dy + b * dy_image, r0, r1, g.data()); });
    for (int64_t grp = 0; grp < t.groups; ++grp) {
      xa.pack({x + (b * t.c + grp * cig) * hw, hw, 1}, cig, hw);
      gemm::StridedBPacker pb({g.data() + grp * cols * hw, 1, hw});
      gemm::gemm_packed(xa, pb, cols, dw + grp * cig * cols, cols, b > 0, {});
    }
  }
}

}  // namespace pcn::conv
