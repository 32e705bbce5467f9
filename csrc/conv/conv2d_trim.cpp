#include "conv/conv2d_trim.h"

#include <algorithm>
#include <cstring>

#include "common/threading.h"

namespace pcn::conv {

namespace {

// Floor and ceiling of a / b for b > 0 and any sign of a.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

// One axis: input n, kernel k, stride st, dilation d, padding p0 before and p1 after, output o.
// Tap t reads input index i = y * st + t * d - p0 for outputs y in [0, o), so it can reach the
// input only if t * d - p0 lies in [-(o - 1) * st, n - 1]: the kept taps are that interval.
struct Axis {
  int64_t k0 = 0, k = 0;      // kept taps [k0, k0 + k)
  int64_t in0 = 0, in = 0;    // input indices [in0, in0 + in) read by them
  int64_t pad0 = 0, pad1 = 0; // padding they reach before and after
  int64_t extent() const { return in + pad0 + pad1; }
};

Axis trim_axis(int64_t n, int64_t k, int64_t st, int64_t d, int64_t p0, int64_t o) {
  Axis a;
  const int64_t lo = std::max<int64_t>(0, ceil_div(p0 - (o - 1) * st, d));
  const int64_t hi = std::min<int64_t>(k - 1, floor_div(p0 + n - 1, d));
  if (lo > hi) return a;  // k == 0: no tap reaches the input
  a.k0 = lo;
  a.k = hi - lo + 1;
  const int64_t first = lo * d - p0;                // read by tap lo at output 0
  const int64_t last = (o - 1) * st + hi * d - p0;  // read by tap hi at output o - 1
  a.in0 = std::max<int64_t>(0, first);
  a.in = std::min<int64_t>(n, last + 1) - a.in0;
  a.pad0 = std::max<int64_t>(0, -first);
  a.pad1 = std::max<int64_t>(0, last + 1 - n);
  return a;
}

}  // namespace

std::optional<TrimmedConv> trim_taps(const Conv2dShape& s) {
  // Only shapes whose padding is far larger than a kernel's reach can gain; the products below
  // fit int64 because finish_conv_shape bounded the padded sizes.
  const double full = double(s.h + s.pt + s.pb) * double(s.w + s.pl + s.pr);
  if (full < 65536.0 || s.n == 0 || s.oh == 0 || s.ow == 0) return std::nullopt;
  const Axis ay = trim_axis(s.h, s.kh, s.sh, s.dh, s.pt, s.oh);
  const Axis ax = trim_axis(s.w, s.kw, s.sw, s.dw, s.pl, s.ow);
  TrimmedConv t;
  t.s = s;
  if (ay.k == 0 || ax.k == 0) {
    t.no_taps = true;
    return t;
  }
  if (4.0 * double(ay.extent()) * double(ax.extent()) > full) return std::nullopt;
  t.s.h = ay.in; t.s.kh = ay.k; t.s.pt = ay.pad0; t.s.pb = ay.pad1;
  t.s.w = ax.in; t.s.kw = ax.k; t.s.pl = ax.pad0; t.s.pr = ax.pad1;
  t.ky0 = ay.k0; t.kx0 = ax.k0;
  t.y0 = ay.in0; t.x0 = ax.in0;
  t.crop = ay.in != s.h || ax.in != s.w;
  return t;
}

std::vector<float> trimmed_weights(const Conv2dShape& s, const TrimmedConv& t, const float* w) {
  const int64_t planes = s.oc * s.cg(), kh = t.s.kh, kw = t.s.kw;
  std::vector<float> out(static_cast<size_t>(planes * kh * kw));
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t ky = 0; ky < kh; ++ky)
      std::memcpy(out.data() + (p * kh + ky) * kw,
                  w + (p * s.kh + t.ky0 + ky) * s.kw + t.kx0, kw * sizeof(float));
  return out;
}

std::vector<float> cropped_input(const Conv2dShape& s, const TrimmedConv& t, const float* x) {
  const int64_t planes = s.n * s.c, h = t.s.h, w = t.s.w;
  std::vector<float> out(static_cast<size_t>(planes * h * w));
  parallel_for(planes, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t y = 0; y < h; ++y)
        std::memcpy(out.data() + (p * h + y) * w, x + (p * s.h + t.y0 + y) * s.w + t.x0,
                    w * sizeof(float));
  });
  return out;
}

void expand_gradients(const Conv2dShape& s, const TrimmedConv& t, const float* dx_t, float* dx,
                      const float* dw_t, float* dw) {
  if (dx && dx_t) {
    const int64_t planes = s.n * s.c, h = t.s.h, w = t.s.w;
    parallel_for(planes, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        float* plane = dx + p * s.h * s.w;
        std::fill(plane, plane + s.h * s.w, 0.0f);
        for (int64_t y = 0; y < h; ++y)
          std::memcpy(plane + (t.y0 + y) * s.w + t.x0, dx_t + (p * h + y) * w, w * sizeof(float));
      }
    });
  }
  if (dw && dw_t) {
    const int64_t planes = s.oc * s.cg(), kh = t.s.kh, kw = t.s.kw;
    std::fill(dw, dw + planes * s.kh * s.kw, 0.0f);
    for (int64_t p = 0; p < planes; ++p)
      for (int64_t ky = 0; ky < kh; ++ky)
        std::memcpy(dw + (p * s.kh + t.ky0 + ky) * s.kw + t.kx0, dw_t + (p * kh + ky) * kw,
                    kw * sizeof(float));
  }
}

void fill_bias(const Conv2dShape& s, const float* bias, float* y, bool relu) {
  const int64_t ohw = s.oh * s.ow;
  for (int64_t i = 0; i < s.n * s.oc; ++i) {
    float v = bias ? bias[i % s.oc] : 0.0f;
    if (relu && v < 0.0f) v = 0.0f;  // NaN stays NaN, as in the kernels' epilogue
    std::fill(y + i * ohw, y + (i + 1) * ohw, v);
  }
}

}  // namespace pcn::conv
