// dX = col2im(W_g^T * dY_b) per image and group, or, with stride 1, a transposed convolution
// run on the forward path.
#include <algorithm>
#include <cstring>
#include <vector>

#include "common/threading.h"
#include "conv/conv2d.h"
#include "conv/conv2d_grad.h"
#include "conv/im2col_pack.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

namespace {

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
// `threaded` selects whether the GEMM and col2im are themselves multi-threaded.
void dx_image(const Conv2dShape& s, bool pointwise, const gemm::PackedA& wt, const float* dyg,
              float* dxg, bool threaded, AlignedBuffer& col, AlignedBuffer& bbuf,
              const gemm::Ukernels& uk) {
  const int64_t ohw = s.oh * s.ow, cg = s.cg(), kdim = s.kdim();
  gemm::StridedBPacker pb({dyg, ohw, 1});
  if (pointwise) {
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
// no col2im pass and no zero fill; every dx element is one sum in a fixed order. When it is
// chosen: the transposed_conv rule (conv_plan.cpp).

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

}  // namespace

void conv2d_grad_input(const Conv2dShape& s, Algo algo, const float* w, const float* dy, float* dx) {
  if (algo == Algo::transposed_conv) {
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
    dx_image(s, algo == Algo::pointwise_gemm, wt[g], dy + (b * s.oc + g * ocg) * ohw, dx + (b * s.c + g * cg) * s.h * s.w,
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

}  // namespace pcn::conv
