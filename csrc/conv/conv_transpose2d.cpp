// Transposed convolution on the convolution kernels (conv_transpose2d.h): no loops of its own
// beyond the bias and the rows and columns of output_padding that no tap reaches.
#include "conv/conv_transpose2d.h"

#include <algorithm>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/threading.h"
#include "conv/conv2d.h"
#include "conv/conv2d_grad.h"

namespace pcn::conv {

Conv2dShape transposed_as_conv(const ConvTranspose2dShape& t) {
  Conv2dShape s{};
  s.n = t.n;
  s.c = t.oc;
  s.h = t.oh - std::max<int64_t>(0, t.oph - t.ph);
  s.w = t.ow - std::max<int64_t>(0, t.opw - t.pw);
  s.oc = t.c;
  s.kh = t.kh, s.kw = t.kw;
  s.sh = t.sh, s.sw = t.sw;
  s.dh = t.dh, s.dw = t.dw;
  s.pt = t.ph, s.pl = t.pw;
  s.pb = std::max<int64_t>(0, t.ph - t.oph);
  s.pr = std::max<int64_t>(0, t.pw - t.opw);
  s.groups = t.groups;
  s.oh = t.h, s.ow = t.w;  // floor((h' + pt + pb - d (k - 1) - 1) / s) + 1 == h
  return s;
}

namespace {

// y[b, o] = src[b, o] placed in the top-left corner (sh x sw) of the (oh x ow) plane, plus
// bias[o] everywhere (the uncovered rows and columns get the bias alone). src may be y itself
// when the plane is fully covered; then only the bias is added.
void place_with_bias(const ConvTranspose2dShape& t, const float* src, int64_t sh, int64_t sw,
                     const float* bias, float* y) {
  const int64_t ohw = t.oh * t.ow;
  parallel_for_each(t.n * t.oc, [&](int64_t plane) {
    const float b = bias ? bias[plane % t.oc] : 0.0f;
    float* yp = y + plane * ohw;
    if (src == y) {
      for (int64_t i = 0; i < ohw; ++i) yp[i] += b;
      return;
    }
    const float* sp = src + plane * sh * sw;
    for (int64_t r = 0; r < t.oh; ++r) {
      float* row = yp + r * t.ow;
      int64_t c = 0;
      if (r < sh)
        for (; c < sw; ++c) row[c] = sp[r * sw + c] + b;
      for (; c < t.ow; ++c) row[c] = b;
    }
  });
}

// The top-left (h x w) corner of every (oh x ow) plane of dy, contiguous.
void crop(const ConvTranspose2dShape& t, const float* dy, int64_t h, int64_t w, float* out) {
  parallel_for_each(t.n * t.oc, [&](int64_t plane) {
    for (int64_t r = 0; r < h; ++r)
      std::memcpy(out + (plane * h + r) * w, dy + (plane * t.oh + r) * t.ow, w * sizeof(float));
  });
}

}  // namespace

void conv_transpose2d_forward(const ConvTranspose2dShape& t, const float* x, const float* w,
                              const float* bias, float* y) {
  if (t.n == 0) return;
  const Conv2dShape s = transposed_as_conv(t);
  const bool covered = s.h == t.oh && s.w == t.ow;
  AlignedBuffer part(covered ? 0 : static_cast<size_t>(s.n * s.c * s.h * s.w));
  float* dst = covered ? y : part.data();
  conv2d_backward(s, nullptr, w, x, dst, nullptr, nullptr);
  if (bias || !covered) place_with_bias(t, dst, s.h, s.w, bias, y);
}

void conv_transpose2d_backward(const ConvTranspose2dShape& t, const float* x, const float* w,
                               const float* dy, float* dx, float* dw, float* db) {
  if (db) {
    // The bias gradient of a convolution with this output shape: the sum of dy per channel.
    Conv2dShape b{};
    b.n = t.n, b.oc = t.oc, b.oh = t.oh, b.ow = t.ow;
    if (t.n == 0) std::fill(db, db + t.oc, 0.0f);
    else conv2d_grad_bias(b, dy, db);
  }
  if (!dx && !dw) return;
  const Conv2dShape s = transposed_as_conv(t);
  if (t.n == 0) {
    if (dw) std::fill(dw, dw + t.c * s.kdim(), 0.0f);
    return;
  }
  if (dw && output_tiled_by_kernel(t)) {
    conv_transpose2d_grad_weight_tiled(t, x, dy, dw);
    dw = nullptr;
    if (!dx) return;
  }
  // Rows and columns of dy that no tap reached do not contribute to dx or dw.
  const bool covered = s.h == t.oh && s.w == t.ow;
  AlignedBuffer part(covered ? 0 : static_cast<size_t>(s.n * s.c * s.h * s.w));
  const float* g = dy;
  if (!covered) {
    crop(t, dy, s.h, s.w, part.data());
    g = part.data();
  }
  if (dx) conv2d_forward(s, g, w, nullptr, dx, false);
  if (dw) conv2d_backward(s, g, w, x, nullptr, dw, nullptr);
}

}  // namespace pcn::conv
