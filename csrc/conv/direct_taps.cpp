#include "conv/direct_taps.h"

#include <algorithm>
#include <stdexcept>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace pcn::conv {

void valid_taps(int64_t o, int64_t stride, int64_t pad, int64_t dilation, int64_t extent,
                int64_t taps, int64_t& k0, int64_t& k1) {
  const int64_t first = o * stride - pad;  // input coordinate of tap 0
  k0 = first >= 0 ? 0 : std::min(taps, (-first + dilation - 1) / dilation);
  const int64_t room = extent - 1 - first;  // tap k is inside while k * dilation <= room
  k1 = room < 0 ? 0 : std::min(taps, room / dilation + 1);
  if (k1 < k0) k1 = k0;
}

DirectTaps::DirectTaps(const Conv2dShape& s, int64_t width)
    : s_(s), width_(width), kdim_(s.kdim()), panels_((s.oc + width - 1) / width) {
  const int64_t hp = s.h + s.pt + s.pb, wp = s.w + s.pl + s.pr;
  koff_.resize(static_cast<size_t>(kdim_));
  for (int64_t ky = 0; ky < s.kh; ++ky)
    for (int64_t kx = 0; kx < s.kw; ++kx)
      for (int64_t ci = 0; ci < s.c; ++ci)
        koff_[(ky * s.kw + kx) * s.c + ci] = (ci * hp + ky * s.dh) * wp + kx * s.dw;

  // kx0 and kx1 both fall as ox grows, so the columns with the full range are contiguous.
  interior_begin_ = interior_end_ = s.ow;
  for (int64_t ox = 0; ox < s.ow; ++ox) {
    int64_t a, b;
    valid_taps(ox, s.sw, s.pl, s.dw, s.w, s.kw, a, b);
    if (a != 0 || b != s.kw) continue;
    if (interior_begin_ == s.ow) interior_begin_ = ox;
    interior_end_ = ox + 1;
  }
}

namespace {

// DirectTaps::pack for panels NR channels wide: NR a constant lets the compiler unroll the
// per-tap zero fill (with the width a run-time value, 1-thread batch-1 AVX2 calls, where
// packing is about a sixth of the time, ran 0.95x).
template <int64_t NR>
void pack_panels(const Conv2dShape& s, int64_t kdim, const float* w, int64_t p0, int64_t p1,
                 float* dst) {
  // Per input channel, the kernel's kk taps of each output channel are contiguous in the
  // OIHW weights and go to kk panel rows: 4 output channels x 4 taps at a time through an
  // in-register 4x4 transpose (SSE2 is part of x86-64), 4 vector loads and stores instead of
  // 16 scalar copies (every thread packs the weights on each call: at batch 1 with 2
  // threads the scalar copy was 7% of a thread's time on 3x3 64->64 32x32).
  // In blocks of input channels whose NR weight rows (16 or 32 KB) stay in L1, each block
  // taken 4 taps at a time, so that 4 panel rows are written in sequence: the kk rows of
  // one input channel lie c * NR floats apart (4 KB with 32 channels), and 25 of them
  // (5x5) overflow an L1 set.
  const int64_t c = s.c, kk = s.kh * s.kw, ld = c * NR;  // ld: between taps in a panel
  const int64_t cblock = std::max<int64_t>(1, 256 / kk);
  for (int64_t p = p0; p < p1; ++p, dst += kdim * NR) {
    const int64_t cols = std::min<int64_t>(NR, s.oc - p * NR);
    const float* src = w + p * NR * kdim;  // output channel j, tap k: src[j * kdim + k]
    for (int64_t c0 = 0; c0 < c; c0 += cblock) {
      const int64_t c1 = std::min(c, c0 + cblock);
      for (int64_t t0 = 0; t0 < kk; t0 += 4) {
        const int64_t t1 = std::min(kk, t0 + 4);
        for (int64_t ci = c0; ci < c1; ++ci) {
          const float* base = src + ci * kk;  // output channel j, tap t: base[j * kdim + t]
          float* out = dst + ci * NR;         // tap t, output channel j: out[t * ld + j]
          int64_t j = 0;
#if defined(__SSE2__)
          if (t1 - t0 == 4)
            for (; j + 4 <= cols; j += 4) {
              const float* s0 = base + j * kdim + t0;
              __m128 r0 = _mm_loadu_ps(s0), r1 = _mm_loadu_ps(s0 + kdim);
              __m128 r2 = _mm_loadu_ps(s0 + 2 * kdim), r3 = _mm_loadu_ps(s0 + 3 * kdim);
              _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
              float* d = out + t0 * ld + j;
              _mm_storeu_ps(d, r0);
              _mm_storeu_ps(d + ld, r1);
              _mm_storeu_ps(d + 2 * ld, r2);
              _mm_storeu_ps(d + 3 * ld, r3);
            }
#endif
          for (int64_t t = t0; t < t1; ++t) {
            for (int64_t jj = j; jj < cols; ++jj) out[t * ld + jj] = base[jj * kdim + t];
            for (int64_t jj = cols; jj < NR; ++jj) out[t * ld + jj] = 0.0f;
          }
        }
      }
    }
  }
}

}  // namespace

void DirectTaps::pack(const float* w, int64_t p0, int64_t p1, float* dst) const {
  if (width_ == 16) return pack_panels<16>(s_, kdim_, w, p0, p1, dst);
  if (width_ == 32) return pack_panels<32>(s_, kdim_, w, p0, p1, dst);
  throw std::logic_error("DirectTaps: panel width must be 16 or 32");
}

TapSegments DirectTaps::segments(int64_t ky0, int64_t ky1, int64_t kx0, int64_t kx1,
                                 int64_t& first) const {
  const int64_t row = s_.kw * s_.c;  // taps per kernel row
  first = ky0 * row + kx0 * s_.c;
  if (kx0 == 0 && kx1 == s_.kw) return {1, (ky1 - ky0) * row, 0};  // one contiguous run
  return {ky1 - ky0, (kx1 - kx0) * s_.c, row};
}

}  // namespace pcn::conv
