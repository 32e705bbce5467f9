#include "conv/conv2d_bf16.h"

#include <algorithm>
#include <cstring>

#include "common/bf16.h"
#include "common/cpu_features.h"
#include "common/threading.h"
#include "linear/gemv.h"

namespace pcn::conv {
namespace {

using linear::kPanel;

// Output positions per work item: a multiple of the kernel's 12-row group, small enough that
// the patch rows (kRows * kdim * 2 bytes) stay in L2 next to the weight panels, and enough
// items at batch 1 (14 x 14 = 196 positions) for two threads.
constexpr int64_t kRows = 48;
// Bytes of bfloat16 input copies per group of samples (a part of Zen 5's 1 MB L2).
constexpr int64_t kGroupBytes = 256 * 1024;

}  // namespace

bool Bf16Conv2d::available(const Conv2dShape& s) {
#ifdef PCN_HAVE_AVX512
  return s.groups == 1 && current_isa() == Isa::avx512 && cpu_has_avx512_bf16() && s.oc > 0 &&
         s.kdim() > 0;
#else
  (void)s;
  return false;
#endif
}

Bf16Conv2d::Bf16Conv2d(const Conv2dShape& s, const float* w, const float* bias) : s_(s) {
  s_.n = 1;
  kdim_ = s.c * s.kh * s.kw;
  ld2_ = (kdim_ + 1) / 2;
  npad_ = (s.oc + kPanel - 1) / kPanel * kPanel;
  // Panel p: ld2_ rows of kPanel pairs; pair (q, j) = inputs 2q, 2q + 1 of output p*16 + j.
  const int64_t halves = npad_ * ld2_ * 2;
  w_.resize(static_cast<size_t>((halves + 1) / 2));
  uint16_t* dst = reinterpret_cast<uint16_t*>(w_.data());
  const int64_t khw = s.kh * s.kw;
  auto weight = [&](int64_t o, int64_t k) -> uint16_t {
    if (o >= s.oc || k >= kdim_) return 0;
    // k = (ky * kw + kx) * c + ci; OIHW index o, ci, ky, kx.
    const int64_t ci = k % s.c, tap = k / s.c;
    return bf16_bits(w[(o * s.c + ci) * khw + tap]);
  };
  for (int64_t p = 0; p < npad_ / kPanel; ++p)
    for (int64_t q = 0; q < ld2_; ++q)
      for (int64_t j = 0; j < kPanel; ++j) {
        uint16_t* d = dst + (p * ld2_ + q) * 2 * kPanel + 2 * j;
        d[0] = weight(p * kPanel + j, 2 * q);
        d[1] = weight(p * kPanel + j, 2 * q + 1);
      }
  has_bias_ = bias != nullptr;
  bias_.resize(static_cast<size_t>(std::max<int64_t>(1, s.oc)));
  if (has_bias_) std::copy(bias, bias + s.oc, bias_.data());
}

void Bf16Conv2d::forward(int64_t n, const float* x, float* y, bool relu) const {
  const Conv2dShape& s = s_;
  const int64_t img = (s.h + s.pt + s.pb) * (s.w + s.pl + s.pr) * s.c;
  // Groups of samples whose bfloat16 copies stay in L2 until their patches are gathered.
  const int64_t g = std::max<int64_t>(1, kGroupBytes / (img * 2));
  for (int64_t i0 = 0; i0 < n; i0 += g)
    forward_group(std::min(g, n - i0), x + i0 * s.c * s.h * s.w, y + i0 * s.oc * s.oh * s.ow,
                  relu);
}

void Bf16Conv2d::forward_group(int64_t n, const float* x, float* y, bool relu) const {
#ifdef PCN_HAVE_AVX512
  if (n <= 0) return;
  const Conv2dShape& s = s_;
  const int64_t hp = s.h + s.pt + s.pb, wp = s.w + s.pl + s.pr, c = s.c;
  const int64_t plane = s.h * s.w, ohw = s.oh * s.ow, img = hp * wp * c;
  // 1. x rounded to bfloat16 and copied channels-last into a zero-padded image per sample:
  // each input row's c segments rounded into a small buffer, then spread with the channel as
  // the outer loop (contiguous reads; the strided writes stay within one L1-resident row).
  thread_local AlignedBuffer hwc_buf;
  hwc_buf.resize(static_cast<size_t>((n * img + 1) / 2));
  uint16_t* hwc = reinterpret_cast<uint16_t*>(hwc_buf.data());
  parallel_for(n * hp, 4, [&](int64_t r0, int64_t r1) {
    thread_local AlignedBuffer seg_buf;
    seg_buf.resize(static_cast<size_t>((c * s.w + 1) / 2));
    uint16_t* seg = reinterpret_cast<uint16_t*>(seg_buf.data());
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t i = r / hp, iy = r % hp - s.pt;
      uint16_t* row = hwc + i * img + (r % hp) * wp * c;
      if (iy < 0 || iy >= s.h) {
        std::memset(row, 0, static_cast<size_t>(wp * c) * 2);
        continue;
      }
      std::memset(row, 0, static_cast<size_t>(s.pl * c) * 2);
      std::memset(row + (s.pl + s.w) * c, 0, static_cast<size_t>(s.pr * c) * 2);
      const float* src = x + i * c * plane + iy * s.w;
      for (int64_t ci = 0; ci < c; ++ci)
        to_bf16_bits_avx512bf16(src + ci * plane, seg + ci * s.w, s.w);
      uint16_t* d = row + s.pl * c;
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t ix = 0; ix < s.w; ++ix) d[ix * c + ci] = seg[ci * s.w + ix];
    }
  });
  // 2. Blocks of output positions (across images): gather patches, VDPBF16PS, write NCHW.
  const int64_t total = n * ohw;
  const int64_t run = s.dw == 1 ? s.kw * c : c;  // contiguous values per copy
  const int64_t runs_per_ky = s.dw == 1 ? 1 : s.kw;
  const float* bias = has_bias_ ? bias_.data() : nullptr;
  parallel_for_dynamic((total + kRows - 1) / kRows, 1, [&](int64_t b0, int64_t b1) {
    thread_local AlignedBuffer pbuf, ybuf;
    pbuf.resize(static_cast<size_t>(kRows * ld2_));
    ybuf.resize(static_cast<size_t>(kRows * s.oc));
    uint16_t* patches = reinterpret_cast<uint16_t*>(pbuf.data());
    float* yb = ybuf.data();
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t r0 = blk * kRows, rows = std::min(kRows, total - r0);
      for (int64_t rr = 0; rr < rows; ++rr) {
        const int64_t r = r0 + rr, i = r / ohw, pos = r % ohw;
        const int64_t oy = pos / s.ow, ox = pos % s.ow;
        const uint16_t* base = hwc + i * img + (oy * s.sh * wp + ox * s.sw) * c;
        uint16_t* d = patches + rr * 2 * ld2_;
        for (int64_t ky = 0; ky < s.kh; ++ky) {
          const uint16_t* srow = base + ky * s.dh * wp * c;
          for (int64_t kx = 0; kx < runs_per_ky; ++kx) {
            std::memcpy(d, srow + kx * s.dw * c, static_cast<size_t>(run) * 2);
            d += run;
          }
        }
        if (kdim_ % 2) *d = 0;
      }
      linear::GemvArgs a{rows, kdim_, npad_, s.oc, kdim_, patches, ld2_, w_.data(),
                         bias,  yb,    s.oc,  relu};
      linear::gemm_bf16_avx512(a, 0, npad_ / kPanel);
      // Positions x oc to NCHW, run by run of positions within one image.
      for (int64_t rr = 0; rr < rows;) {
        const int64_t r = r0 + rr, i = r / ohw, pos = r % ohw;
        const int64_t len = std::min(rows - rr, ohw - pos);
        float* yi = y + i * s.oc * ohw + pos;
        for (int64_t o = 0; o < s.oc; ++o) {
          float* yo = yi + o * ohw;
          const float* src = yb + rr * s.oc + o;
          for (int64_t t = 0; t < len; ++t) yo[t] = src[t * s.oc];
        }
        rr += len;
      }
    }
  });
#else
  (void)n, (void)x, (void)y, (void)relu;
#endif
}

int64_t Bf16Conv2d::bytes() const {
  return npad_ * ld2_ * 4 + (has_bias_ ? s_.oc * 4 : 0);
}

}  // namespace pcn::conv
