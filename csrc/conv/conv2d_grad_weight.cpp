// dW_g = sum_b dY_b * im2col(X_b)^T, accumulated over the images in order.
#include <algorithm>
#include <vector>

#include "common/threading.h"
#include "conv/conv2d_grad.h"
#include "conv/dw_ukernel.h"
#include "conv/im2col_hwc_pack.h"
#include "conv/im2col_pack.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

namespace {

// Per-thread scratch of the weight gradient.
struct DwScratch {
  AlignedBuffer bbuf;
  PaddedImage img;
  PaddedImageHwc img_hwc;
  gemm::PackedA a;
};

// Split by columns of dW, every thread packs dY_b (and, with 16+ channels, transposes the
// image to channels-last) for every image: for narrow dW (first layers: kdim = 1*5*5 or
// 3*3*3) that is most of the work, and for wide dW it is 10-20%. Instead the batch is cut into
// chunks of a fixed number of images (never depending on the thread count); one thread
// computes each chunk's partial dW, and the partials are added in chunk order. The partials
// are bounded to 8 MB; beyond that the column split is used.
constexpr int64_t kDwChunkImages = 8;
constexpr int64_t kDwPartialsMaxFloats = int64_t(1) << 21;
bool dw_by_image_chunks(const Conv2dShape& s) {
  const int64_t nchunks = (s.n + kDwChunkImages - 1) / kDwChunkImages;
  return s.n >= 2 * kDwChunkImages && nchunks * s.ocg() * s.kdim() <= kDwPartialsMaxFloats;
}

// Columns [n0, n1) (multiples of 16) of dW' (ocg x kdim, columns (ky, kx, c)) (+)= dY_b *
// im2col(X_b)^T, with B read in place from the channels-last image: with cg a multiple of 16,
// every 16-column panel is 16 channels of one tap, so no panel is copied. Same blocks, same
// sum order as gemm_block over Im2colHwcTransposedBPacker.
void add_image_in_place(const Conv2dShape& s, const DwUkernels& dk, const gemm::PackedA& a,
                        const PaddedImageHwc& img, const int64_t* boff, int64_t m0, int64_t m1,
                        int64_t n0, int64_t n1, float* out, bool accumulate) {
  const int64_t k = a.k(), cg = s.cg(), wp = img.width(), ldc = s.kdim();
  // The image pixel-0 address of the 16 channels of column jr.
  auto panel_base = [&](int64_t jr) {
    const int64_t tap = jr / cg, c0 = jr % cg;
    return img.data() + ((tap / s.kw) * s.dh * wp + (tap % s.kw) * s.dw) * cg + c0;
  };
  for (int64_t pc = 0; pc < k; pc += a.kc_block()) {
    const int64_t kc = std::min(a.kc_block(), k - pc);
    const int flags = (accumulate || pc > 0) ? gemm::kAccumulate : 0;
    if (dk.wide) {
      // Two 16-column panels (each its own base: they may be different taps) x 12 rows.
      for (int64_t jr = n0; jr < n1; jr += gemm::kWideCols) {
        const int v = jr + gemm::NR < n1 ? 2 : 1;
        const float* b0 = panel_base(jr);
        const float* b1 = v == 2 ? panel_base(jr + gemm::NR) : nullptr;
        for (int64_t ir = m0; ir < m1; ir += gemm::kWideRows) {
          const int64_t rows = std::min(gemm::kWideRows, m1 - ir);
          dk.wide->tile[rows - 1][v - 1](kc, a.panel(pc, kc, ir), b0, b1, boff + pc,
                                         out + ir * ldc + jr, ldc, flags);
        }
      }
      continue;
    }
    for (int64_t jr = n0; jr < n1; jr += gemm::NR) {
      const float* bbase = panel_base(jr);
      for (int64_t ir = m0; ir < m1; ir += gemm::MR) {
        const int64_t rows = std::min(gemm::MR, m1 - ir);
        dk.rows[rows - 1](kc, a.panel(pc, kc, ir), bbase, boff + pc, out + ir * ldc + jr, ldc,
                          flags);
      }
    }
  }
}

}  // namespace

void conv2d_grad_weight(const Conv2dShape& s, Algo algo, const float* x, const float* dy, float* dw) {
  const int64_t ocg = s.ocg(), cg = s.cg(), kdim = s.kdim(), ohw = s.oh * s.ow;
  const gemm::Ukernels& uk = gemm::select_ukernel();
  const bool pointwise = algo == Algo::pointwise_gemm;
  // B from a channels-last copy (im2col_hwc_pack.h), read in place (dw_ukernel.h) or packed.
  const bool hwc = algo == Algo::hwc_in_place || algo == Algo::hwc_gemm;
  const bool in_place = algo == Algo::hwc_in_place;
  const DwUkernels& dk = select_dw_ukernels();
  std::vector<int64_t> boff(in_place ? static_cast<size_t>(ohw) : 0);
  if (in_place) {
    const int64_t wp = s.w + s.pl + s.pr;
    for (int64_t p = 0; p < ohw; ++p) boff[p] = ((p / s.ow) * s.sh * wp + (p % s.ow) * s.sw) * cg;
  }
  const bool chunks = dw_by_image_chunks(s);
  const int64_t nchunks = (s.n + kDwChunkImages - 1) / kDwChunkImages;
  AlignedBuffer perm(hwc ? static_cast<size_t>(ocg * kdim) : 0);
  AlignedBuffer partial(chunks ? static_cast<size_t>(nchunks * ocg * kdim) : 0);

  // out[m0:m1, n0:n1] (+)= dY_b * im2col(X_b)^T for image b of group g.
  auto add_image = [&](DwScratch& t, int64_t g, int64_t b, int64_t m0, int64_t m1, int64_t n0,
                       int64_t n1, float* out, bool accumulate) {
    const float* dyg = dy + (b * s.oc + g * ocg) * ohw;
    const float* xg = x + (b * s.c + g * cg) * s.h * s.w;
    t.a.pack({dyg, ohw, 1}, ocg, ohw);
    if (pointwise) {
      // B = X_b^T (hw x c): column j of B is channel j of the image.
      gemm::StridedBPacker pb({xg, 1, s.h * s.w});
      gemm::gemm_block(uk, t.a, pb, m0, m1, n0, n1, out, kdim, accumulate, {}, t.bbuf);
    } else if (in_place) {
      t.img_hwc.assign(s, xg);
      add_image_in_place(s, dk, t.a, t.img_hwc, boff.data(), m0, m1, n0, n1, out, accumulate);
    } else if (hwc) {
      t.img_hwc.assign(s, xg);
      Im2colHwcTransposedBPacker pb(s, t.img_hwc);
      gemm::gemm_block(uk, t.a, pb, m0, m1, n0, n1, out, kdim, accumulate, {}, t.bbuf);
    } else {
      t.img.assign(s, xg);
      Im2colTransposedBPacker pb(s, t.img);
      gemm::gemm_block(uk, t.a, pb, m0, m1, n0, n1, out, kdim, accumulate, {}, t.bbuf);
    }
  };

  for (int64_t g = 0; g < s.groups; ++g) {
    float* dwg = dw + g * ocg * kdim;
    float* out = hwc ? perm.data() : dwg;
    if (chunks) {
      parallel_for(nchunks, 1, [&](int64_t c0, int64_t c1) {
        DwScratch t;
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t b0 = c * kDwChunkImages, b1 = std::min(s.n, b0 + kDwChunkImages);
          for (int64_t b = b0; b < b1; ++b)
            add_image(t, g, b, 0, ocg, 0, kdim, partial.data() + c * ocg * kdim, b > b0);
        }
      });
      const float* p = partial.data();
      for (int64_t i = 0; i < ocg * kdim; ++i) {
        float acc = p[i];
        for (int64_t c = 1; c < nchunks; ++c) acc += p[c * ocg * kdim + i];
        out[i] = acc;
      }
    } else {
      // dW_g (ocg x kdim): threads take column tiles (or row tiles when kdim is narrow); each
      // runs over the images in order, accumulating into its own block of dW_g.
      const int64_t ntiles = (kdim + gemm::NR - 1) / gemm::NR;
      const int64_t mtiles = (ocg + gemm::MR - 1) / gemm::MR;
      const bool split_n = ntiles >= get_num_threads() || ntiles >= mtiles;
      parallel_for(split_n ? ntiles : mtiles, 1, [&](int64_t t0, int64_t t1) {
        int64_t m0 = 0, m1 = ocg, n0 = 0, n1 = kdim;
        if (split_n) { n0 = t0 * gemm::NR; n1 = std::min(kdim, t1 * gemm::NR); }
        else { m0 = t0 * gemm::MR; m1 = std::min(ocg, t1 * gemm::MR); }
        DwScratch t;
        for (int64_t b = 0; b < s.n; ++b) add_image(t, g, b, m0, m1, n0, n1, out, b > 0);
      });
    }
    if (hwc) unpermute_dw(s, perm.data(), dwg);
  }
}

}  // namespace pcn::conv
