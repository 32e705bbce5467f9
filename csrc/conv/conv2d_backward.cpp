// Backward convolution as GEMMs (Darknet/Caffe algebra), per group g and image b:
//   dX_b = col2im(W_g^T * dY_b)        dW_g = sum_b dY_b * im2col(X_b)^T        db = sum dY
// Every reduction runs in a fixed order (images in order, KC blocks in order), and threads
// split only independent outputs, so the gradients are the same bits for any thread count.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/threading.h"
#include "conv/conv2d.h"
#include "conv/depthwise.h"
#include "conv/im2col_hwc_pack.h"
#include "conv/im2col_pack.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

namespace {

bool is_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 &&
         s.pb == 0 && s.pr == 0;
}

// Output positions per dcol chunk: bounds the scratch to about 1M floats (4 MB) per thread
// whatever the image size. Depends only on the shape, never on the thread count.
int64_t dcol_chunk(const Conv2dShape& s) {
  const int64_t ohw = s.oh * s.ow;
  int64_t chunk = std::max<int64_t>(gemm::NR, (int64_t(1) << 20) / std::max<int64_t>(1, s.kdim()));
  chunk = chunk / gemm::NR * gemm::NR;
  return std::min(chunk, ohw);
}

// dX for one image and group: pointwise writes the GEMM result directly; otherwise each
// chunk of output positions becomes a dcol block that col2im adds into dx.
// `split` selects whether the GEMM and col2im are themselves multi-threaded.
void dx_image(const Conv2dShape& s, const gemm::PackedA& wt, const float* dyg, float* dxg,
              bool threaded, AlignedBuffer& col, AlignedBuffer& bbuf, const gemm::Ukernels& uk) {
  const int64_t ohw = s.oh * s.ow, cg = s.cg(), kdim = s.kdim();
  gemm::StridedBPacker pb({dyg, ohw, 1});
  if (is_pointwise(s)) {
    if (threaded) gemm::gemm_packed(wt, pb, ohw, dxg, ohw, false, {});
    else gemm::gemm_block(uk, wt, pb, 0, kdim, 0, ohw, dxg, ohw, false, {}, bbuf);
    return;
  }
  std::memset(dxg, 0, cg * s.h * s.w * sizeof(float));
  const int64_t chunk = dcol_chunk(s);
  col.resize(static_cast<size_t>(kdim * chunk));
  for (int64_t p0 = 0; p0 < ohw; p0 += chunk) {
    const int64_t p1 = std::min(ohw, p0 + chunk);
    gemm::StridedBPacker pchunk({dyg + p0, ohw, 1});
    float* cp = col.data();
    if (threaded) {
      gemm::gemm_packed(wt, pchunk, p1 - p0, cp, p1 - p0, false, {});
      parallel_for(cg, 1, [&](int64_t c0, int64_t c1) { col2im_add(s, cp, p0, p1, c0, c1, dxg); });
    } else {
      gemm::gemm_block(uk, wt, pchunk, 0, kdim, 0, p1 - p0, cp, p1 - p0, false, {}, bbuf);
      col2im_add(s, cp, p0, p1, 0, cg, dxg);
    }
  }
}

// With stride 1, dX is itself a stride-1 convolution: of dY, with the weights rotated by 180
// degrees and transposed per group (w'[c][o] = rot180(w[o][c])), padded by d*(K-1) - p on
// each side. Running it on the forward path (im2col fused into packing) needs no dcol scratch,
// no col2im pass and no zero fill; every dx element is one GEMM sum in a fixed k order.
// Its GEMM has only cg rows, so it pays when cg fills several MR-row tiles (measured: 64 and
// 32 input channels gain 5-20%; 1 or 3 input channels run 5x slower than GEMM + col2im).
bool dx_by_transposed_conv(const Conv2dShape& s) {
  return s.cg() >= 16 && s.sh == 1 && s.sw == 1 && s.pt <= s.dh * (s.kh - 1) && s.pb <= s.dh * (s.kh - 1) &&
         s.pl <= s.dw * (s.kw - 1) && s.pr <= s.dw * (s.kw - 1);
}

void backward_dx_transposed_conv(const Conv2dShape& s, const float* w, const float* dy, float* dx) {
  Conv2dShape t = s;
  t.c = s.oc, t.h = s.oh, t.w = s.ow;
  t.oc = s.c, t.oh = s.h, t.ow = s.w;
  t.pt = s.dh * (s.kh - 1) - s.pt, t.pb = s.dh * (s.kh - 1) - s.pb;
  t.pl = s.dw * (s.kw - 1) - s.pl, t.pr = s.dw * (s.kw - 1) - s.pr;
  const int64_t ocg = s.ocg(), cg = s.cg(), khw = s.kh * s.kw;
  AlignedBuffer wt(static_cast<size_t>(s.c * ocg * khw));
  float* wp = wt.data();
  for (int64_t g = 0; g < s.groups; ++g)
    for (int64_t ci = 0; ci < cg; ++ci)
      for (int64_t o = 0; o < ocg; ++o) {
        const float* src = w + ((g * ocg + o) * cg + ci) * khw;
        float* dst = wp + ((g * cg + ci) * ocg + o) * khw;
        for (int64_t k = 0; k < khw; ++k) dst[k] = src[khw - 1 - k];  // rot180 of the kernel
      }
  conv2d_forward(t, dy, wp, nullptr, dx, false);
}

void backward_dx(const Conv2dShape& s, const float* w, const float* dy, float* dx) {
  if (!is_pointwise(s) && dx_by_transposed_conv(s)) {
    backward_dx_transposed_conv(s, w, dy, dx);
    return;
  }
  const int64_t ocg = s.ocg(), cg = s.cg(), kdim = s.kdim(), ohw = s.oh * s.ow;
  // A = W_g^T (kdim x ocg), read transposed from the OIHW weights.
  std::vector<gemm::PackedA> wt(s.groups);
  for (int64_t g = 0; g < s.groups; ++g) wt[g].pack({w + g * ocg * kdim, 1, kdim}, kdim, ocg);
  const gemm::Ukernels& uk = gemm::select_ukernel();
  const int nt = get_num_threads();
  auto one = [&](int64_t b, int64_t g, bool threaded, AlignedBuffer& col, AlignedBuffer& bbuf) {
    dx_image(s, wt[g], dy + (b * s.oc + g * ocg) * ohw, dx + (b * s.c + g * cg) * s.h * s.w,
             threaded, col, bbuf, uk);
  };
  const int64_t items = s.n * s.groups;
  if (items >= nt) {
    parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
      AlignedBuffer col, bbuf;
      for (int64_t i = i0; i < i1; ++i) one(i / s.groups, i % s.groups, false, col, bbuf);
    });
  } else {
    AlignedBuffer col, bbuf;
    for (int64_t i = 0; i < items; ++i) one(i / s.groups, i % s.groups, true, col, bbuf);
  }
}

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

void backward_dw(const Conv2dShape& s, const float* x, const float* dy, float* dw) {
  const int64_t ocg = s.ocg(), cg = s.cg(), kdim = s.kdim(), ohw = s.oh * s.ow;
  const gemm::Ukernels& uk = gemm::select_ukernel();
  const bool pointwise = is_pointwise(s);
  // With 16+ channels per group, gather from a channels-last copy (im2col_hwc_pack.h).
  const bool hwc = !pointwise && cg >= 16;
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

// Sum of n floats in a fixed order that still vectorises: 16 interleaved partial sums (lane j
// takes elements j, j + 16, ...), combined pairwise at the end. Float addition is not
// associative, so the order is part of the contract; it depends only on n.
float lane_sum(const float* p, int64_t n) {
  constexpr int L = 16;
  float part[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int j = 0; j < L; ++j) part[j] += p[i + j];
  for (int j = 0; i + j < n; ++j) part[j] += p[i + j];
  for (int w = L / 2; w > 0; w /= 2)
    for (int j = 0; j < w; ++j) part[j] += part[j + w];
  return part[0];
}

void backward_db(const Conv2dShape& s, const float* dy, float* db) {
  const int64_t ohw = s.oh * s.ow;
  parallel_for_each(s.oc, [&](int64_t o) {
    double acc = 0.0;  // fixed order: images in order, each image's plane by lane_sum
    for (int64_t b = 0; b < s.n; ++b) acc += lane_sum(dy + (b * s.oc + o) * ohw, ohw);
    db[o] = static_cast<float>(acc);
  });
}

}  // namespace

void conv2d_backward(const Conv2dShape& s, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db) {
  const int64_t ohw = s.oh * s.ow;
  if (db) {
    if (s.n == 0 || ohw == 0) std::fill(db, db + s.oc, 0.0f);
    else backward_db(s, dy, db);
  }
  if (s.n == 0 || ohw == 0 || s.oc == 0) {
    if (dx) std::fill(dx, dx + s.n * s.c * s.h * s.w, 0.0f);
    if (dw) std::fill(dw, dw + s.oc * s.kdim(), 0.0f);
    return;
  }
  if (use_depthwise(s)) {
    depthwise_backward(s, x, w, dy, dx, dw);
    return;
  }
  if (dx) backward_dx(s, w, dy, dx);
  if (dw) backward_dw(s, x, dy, dw);
}

}  // namespace pcn::conv
