#include "conv/direct_panels.h"

#include <algorithm>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/threading.h"
#include "conv/direct_taps.h"
#include "conv/even_tiles.h"
#include "conv/im2col_pack.h"

namespace pcn::conv {

void direct_conv_forward_panels(const Conv2dShape& s, const DirectUkernels& uk, const float* x,
                                const float* packed, const float* bias, float* y, bool relu) {
  const int64_t oc = s.oc, ohw = s.oh * s.ow, chw = s.c * s.h * s.w;
  if (s.n == 0 || oc == 0 || ohw == 0) return;
  const int64_t wp = s.w + s.pl + s.pr;
  const int64_t mr = uk.positions, nr = uk.width;
  const DirectTaps taps(s, nr);
  const int64_t panels = taps.panels(), panel_size = taps.panel_size();
  const int flags = relu ? gemm::kRelu : 0;
  const int64_t x0 = taps.interior_begin(), x1 = taps.interior_end();
  // the bias padded to whole panels, and every image padded once, by the calling thread
  // (workers read them through these references, never their own thread_locals)
  thread_local std::vector<float> bias_buf;
  thread_local std::vector<PaddedImage> images;
  std::vector<float>& bb = bias_buf;
  std::vector<PaddedImage>& imgs = images;
  if (bias) {
    bb.assign(static_cast<size_t>(panels * nr), 0.0f);
    std::copy(bias, bias + oc, bb.begin());
  }
  if (imgs.size() < static_cast<size_t>(s.n)) imgs.resize(static_cast<size_t>(s.n));
  parallel_for(s.n, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) imgs[b].assign(s, x + b * chw);
  });
  const float* biasp = bias ? bb.data() : nullptr;
  const bool flat = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pb == 0 &&
                    s.pl == 0 && s.pr == 0;

  // Units panel-major: one panel over the batch's images in turn, in one chunk when there are
  // panels enough for every thread, so a panel's weights stay in that thread's L2.
  const int64_t chunk = panels >= 2 * get_num_threads() ? s.n : 1;
  parallel_for_dynamic(s.n * panels, chunk, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t p = u / s.n, b = u % s.n;
      const float* img = imgs[b].data();
      float* yp = y + b * oc * ohw + p * nr * ohw;  // the panel's first channel
      const int64_t cols = std::min(nr, oc - p * nr);
      const bool full = cols == nr;
      const float* bp = packed + p * panel_size;
      const float* bias_p = biasp ? biasp + p * nr : nullptr;
      // One tile: `count` positions from `origin` (position i at origin + i * astride), taps
      // `seg` from tap `first`, written to dst[i * pos_stride + j * ohw].
      auto run_tile = [&](TapSegments seg, int64_t first, const float* origin, int64_t astride,
                          int64_t count, float* dst, int64_t pos_stride) {
        const DirectUkernelFn kernel =
            uk.tile[count - 1][full ? kMaxTileVecs - 1 : (cols + uk.vec - 1) / uk.vec - 1];
        if (pos_stride == 1 && (full || cols % uk.vec == 0)) {
          kernel(seg, origin, taps.koff() + first, astride, bp + first * nr, dst, ohw,
                 flags | kChannelMajor, bias_p);
          return;
        }
        alignas(64) float tile[kMaxTilePositions * kMaxTileVecs * 16];
        kernel(seg, origin, taps.koff() + first, astride, bp + first * nr, tile, nr, flags, bias_p);
        for (int64_t j = 0; j < cols; ++j)
          for (int64_t i = 0; i < count; ++i) dst[j * ohw + i * pos_stride] = tile[i * nr + j];
      };
      // 1x1, stride 1, unpadded: the map's positions are consecutive in the image and in y, so
      // tiles run across row ends and stay full (a 7-wide row would fill 7 of 12 positions).
      if (flat) {
        int64_t first;
        const TapSegments seg = taps.segments(0, 1, 0, 1, first);
        for_each_even_tile(ohw, mr, [&](int64_t at, int64_t count) {
          run_tile(seg, first, img + at, 1, count, yp + at, 1);
        });
        continue;
      }
      for (int64_t oy = 0; oy < s.oh; ++oy) {
        int64_t ky0, ky1, first;
        valid_taps(oy, s.sh, s.pt, s.dh, s.h, s.kh, ky0, ky1);
        const TapSegments seg = taps.segments(ky0, ky1, 0, s.kw, first);
        const float* row = img + oy * s.sh * wp;
        for_each_even_tile(x1 - x0, mr, [&](int64_t at, int64_t count) {
          const int64_t ox = x0 + at;
          run_tile(seg, first, row + ox * s.sw, s.sw, count, yp + oy * s.ow + ox, 1);
        });
      }
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        if (ox == x0) ox = x1;
        if (ox >= s.ow) break;
        int64_t kx0, kx1, first;
        valid_taps(ox, s.sw, s.pl, s.dw, s.w, s.kw, kx0, kx1);
        const TapSegments seg = taps.segments(0, s.kh, kx0, kx1, first);
        for_each_even_tile(s.oh, mr, [&](int64_t at, int64_t count) {
          run_tile(seg, first, img + at * s.sh * wp + ox * s.sw, s.sh * wp, count,
                   yp + at * s.ow + ox, s.ow);
        });
      }
    }
  });
}

}  // namespace pcn::conv
