#include "conv/direct_panels.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/threading.h"
#include "conv/even_tiles.h"
#include "conv/strided_gather.h"

namespace pcn::conv {

namespace {
// Taps per block of a long 1x1 sum: 32 KB of weights with AVX-512's 32-channel panels.
// (128 and 512 measured no better in a served ResNet-50)
constexpr int64_t kTapBlock = 256;
// Panels of this size and more are streamed (forward); smaller ones mostly stay in L2 or L3
// from call to call.
constexpr int64_t kStreamedPanelBytes = 32 * 1024;
}  // namespace

DirectPanels::DirectPanels(const Conv2dShape& s, const DirectUkernels& uk, const float* bias)
    : s_(s), uk_(uk), taps_(s, uk.width) {
  if (bias) {
    bias_.assign(static_cast<size_t>(taps_.panels() * uk.width), 0.0f);
    std::copy(bias, bias + s.oc, bias_.begin());
  }
  // Split what weighs more at batch 1: the activations (read and written, by rows) or the
  // weights (by panels, each read by one thread). ResNet-50's 1x1 layers on 28x28 and 56x56
  // maps go by rows; those on 14x14 (about as many floats of each) measured no better by rows.
  by_rows_ = s.c * s.h * s.w + s.oc * s.oh * s.ow > s.oc * s.c * s.kh * s.kw;
  unpadded_ = s.pt == 0 && s.pb == 0 && s.pl == 0 && s.pr == 0;
  // Strided 1x1 layers whose output rows are shorter than two tiles are gathered and run
  // flat (ResNet-50 at batch 1: 1024 -> 2048 onto 7x7 0.55 -> 0.46 ms, 512 -> 1024 onto
  // 14x14 0.52 -> 0.47 ms); onto 28x28 (rows of 10+9+9) the copy cost more than it gained.
  const bool strided = s.sh != 1 || s.sw != 1;
  flat_ = unpadded_ && s.kh == 1 && s.kw == 1 && (!strided || s.ow < 2 * uk.positions);
  if (flat_ && strided) {
    Conv2dShape g = s;
    g.h = s.oh;
    g.w = s.ow;
    g.sh = g.sw = 1;
    gathered_taps_ = std::make_unique<DirectTaps>(g, uk.width);
  }
  // The taps the tiles of one panel over one image run, summed (the rows, then the edge
  // columns, as forward tiles them): the pace at which that pass can prefetch the next panel.
  const int64_t x0 = taps_.interior_begin(), x1 = taps_.interior_end();
  int64_t row_tiles = 0, col_tiles = 0;
  for_each_even_tile(x1 - x0, uk.positions, [&](int64_t, int64_t) { ++row_tiles; });
  for_each_even_tile(s.oh, uk.positions, [&](int64_t, int64_t) { ++col_tiles; });
  if (flat_) {
    for_each_even_tile(s.oh * s.ow, uk.positions, [&](int64_t, int64_t) { ++flat_tiles_; });
    pass_taps_ = flat_tiles_ * s.c;
    return;
  }
  for (int64_t oy = 0; oy < s.oh; ++oy) {
    int64_t ky0, ky1;
    valid_taps(oy, s.sh, s.pt, s.dh, s.h, s.kh, ky0, ky1);
    pass_taps_ += row_tiles * (ky1 - ky0) * s.kw * s.c;
  }
  for (int64_t ox = 0; ox < s.ow; ++ox) {
    if (ox >= x0 && ox < x1) continue;
    int64_t kx0, kx1;
    valid_taps(ox, s.sw, s.pl, s.dw, s.w, s.kw, kx0, kx1);
    pass_taps_ += col_tiles * s.kh * (kx1 - kx0) * s.c;
  }
}

void DirectPanels::forward(int64_t n, const float* x, const float* packed, float* y, bool relu,
                           bool accumulate) const {
  Conv2dShape s = s_;
  s.n = n;
  const int64_t oc = s.oc, ohw = s.oh * s.ow, chw = s.c * s.h * s.w;
  if (n == 0 || oc == 0 || ohw == 0) return;
  const DirectUkernels& uk = uk_;
  const DirectTaps& taps = taps_;
  const int64_t wp = s.w + s.pl + s.pr;
  const int64_t mr = uk.positions, nr = uk.width;
  const int64_t panels = taps.panels(), panel_size = taps.panel_size();
  const int flags = (relu ? gemm::kRelu : 0) | (accumulate ? gemm::kAccumulate : 0);
  const int64_t x0 = taps.interior_begin(), x1 = taps.interior_end();
  // Every image padded once, by the calling thread's buffers (workers read them through
  // this reference, never their own thread_locals); a single image's copy split by channels.
  thread_local std::vector<PaddedImage> images;
  std::vector<PaddedImage>& imgs = images;
  if (!unpadded_) {
    if (imgs.size() < static_cast<size_t>(n)) imgs.resize(static_cast<size_t>(n));
    if (n == 1) {
      imgs[0].assign_parallel(s, x);
    } else {
      parallel_for(n, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) imgs[b].assign(s, x + b * chw);
      });
    }
  }

  // Units panel-major: one panel over the batch's images in turn, in one chunk when there are
  // panels enough for every thread, so a panel's weights stay in that thread's L2.
  //
  // Large panels are streamed: each thread takes a run of consecutive panels, and while one
  // panel's tiles run the kernels prefetch the next panel's weights into L2, a few lines per
  // tap spread over the whole pass. Otherwise the first tile of every panel waits on memory:
  // at batch 1 a served network reads each layer's weights from memory (ResNet-50 holds 100
  // MB of them), and a 3x3 512-channel panel (590 KB) took about a third longer than its
  // arithmetic on a 7x7 map.
  const int64_t nt = get_num_threads();
  const int64_t panel_bytes = panel_size * static_cast<int64_t>(sizeof(float));
  // Bands: at batch 1 on a map whose activations outweigh the layer's weights, each thread
  // takes a band of output rows over every panel instead of a share of the panels, so the
  // rows it reads and writes are those its core wrote in the layer before (the same split).
  const int64_t bands = by_rows_ ? batch1_bands(n, s.oh) : 1;
  const bool stream = panel_bytes >= kStreamedPanelBytes && (bands > 1 || panels >= 2 * nt);
  const int64_t band_taps = std::max<int64_t>(pass_taps_ / bands, 1);
  const int64_t pf_stride =
      stream ? std::clamp<int64_t>((panel_bytes + band_taps - 1) / band_taps, 1, 64) : 0;
  const float* biasp = bias_.empty() ? nullptr : bias_.data();
  // Strided 1x1: every image's rows and columns the layer reads, copied once (in bands, each
  // thread its own rows); the flat path then reads the copy through its own tap offsets.
  const float* src = x;
  int64_t src_chw = chw;
  const int64_t* koff = taps.koff();
  if (gathered_taps_) {
    thread_local AlignedBuffer gathered_buf;  // the calling thread's; workers only read it
    gathered_buf.resize(static_cast<size_t>(n * s.c * ohw));
    float* g = gathered_buf.data();
    gather_strided(s, n, x, g, bands);
    src = g;
    src_chw = s.c * ohw;
    koff = gathered_taps_->koff();
  }
  const int64_t chunk = bands > 1 ? 1 : stream ? n * ((panels + nt - 1) / nt) : panels >= 2 * nt ? n : 1;
  const int64_t units = bands > 1 ? bands * panels : n * panels;
  parallel_for_dynamic(units, chunk, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t p = bands > 1 ? u % panels : u / n, b = bands > 1 ? 0 : u % n;
      const int64_t band = bands > 1 ? u / panels : 0;
      const int64_t row0 = band_begin(s.oh, band, bands), row1 = band_begin(s.oh, band + 1, bands);
      // the next panel's weights, when this thread runs it next
      // (as addresses: the walk passes the panel's end, where pointer arithmetic may not go)
      const bool prefetching =
          stream && (bands > 1 ? p + 1 < panels : b == n - 1 && u + 1 < u1);
      uintptr_t pf = prefetching ? reinterpret_cast<uintptr_t>(packed + (p + 1) * panel_size) : 0;
      const uintptr_t pf_end = prefetching ? pf + static_cast<uintptr_t>(panel_bytes) : 0;
      // The prefetch of a tile of `taps` taps: the next lines of the next panel, at pf_stride
      // bytes per tap (the 1x1 path below paces its own).
      auto next_prefetch = [&](int64_t taps_in_tile) {
        const TilePrefetch f{pf < pf_end ? reinterpret_cast<const char*>(pf) : nullptr, pf_stride};
        pf += static_cast<uintptr_t>(taps_in_tile * pf_stride);
        return f;
      };
      const float* img = unpadded_ ? src + b * src_chw : imgs[b].data();
      float* yp = y + b * oc * ohw + p * nr * ohw;  // the panel's first channel
      const int64_t cols = std::min(nr, oc - p * nr);
      const bool full = cols == nr;
      const float* bp = packed + p * panel_size;
      const float* bias_p = biasp ? biasp + p * nr : nullptr;
      // One tile: `count` positions from `origin` (position i at origin + i * astride), taps
      // `seg` from tap `first`, written to dst[i * pos_stride + j * ohw]; acc_in: partial sums
      // of the taps before `first`, or null.
      auto run_tile = [&](TapSegments seg, int64_t first, const float* origin, int64_t astride,
                          int64_t count, float* dst, int64_t pos_stride, const float* acc_in,
                          TilePrefetch prefetch) {
        const DirectUkernelFn kernel =
            uk.tile[count - 1][full ? kMaxTileVecs - 1 : (cols + uk.vec - 1) / uk.vec - 1];
        if (pos_stride == 1 && (full || cols % uk.vec == 0)) {
          kernel(seg, origin, koff + first, astride, bp + first * nr, dst, ohw,
                 flags | kChannelMajor, bias_p, acc_in, prefetch);
          return;
        }
        // Through a position-major tile: with kAccumulate it starts as the residual (zero in
        // the columns past the panel's last channel, which are computed but not stored).
        alignas(64) float tile[kMaxTilePositions * kMaxTileVecs * 16];
        if (accumulate) {
          std::memset(tile, 0, sizeof tile);
          for (int64_t j = 0; j < cols; ++j)
            for (int64_t i = 0; i < count; ++i) tile[i * nr + j] = dst[j * ohw + i * pos_stride];
        }
        kernel(seg, origin, koff + first, astride, bp + first * nr, tile, nr, flags, bias_p,
               acc_in, prefetch);
        for (int64_t j = 0; j < cols; ++j)
          for (int64_t i = 0; i < count; ++i) dst[j * ohw + i * pos_stride] = tile[i * nr + j];
      };
      // 1x1, stride 1, unpadded: the map's positions are consecutive in the image and in y, so
      // tiles run across row ends and stay full (a 7-wide row would fill 7 of 12 positions).
      if (flat_) {
        const int64_t kdim = s.c;
        const int64_t pos0 = row0 * s.ow, pos1 = row1 * s.ow;
        if (kdim <= kTapBlock) {
          int64_t first;
          const TapSegments seg = taps.segments(0, 1, 0, 1, first);
          for_each_even_tile(pos1 - pos0, mr, [&](int64_t at, int64_t count) {
            at += pos0;
            run_tile(seg, first, img + at, 1, count, yp + at, 1, nullptr, next_prefetch(seg.len));
          });
          continue;
        }
        // Long sums in blocks of taps, every tile of the panel per block: a block's weights
        // are read from memory once and then from L1 by the other tiles, where a whole panel
        // (256 KB for 2048 input channels) would be read from memory by the first tile at
        // a rate the memory cannot keep, and from L2 by the rest. Each tile's partial sums
        // wait in `partial` (position-major, raw); continuing from them gives the same bits.
        // While a block's tiles run, the kernels prefetch the next block (of the next panel
        // after the last), paced over the block's taps.
        thread_local AlignedBuffer partial_buf;
        const int64_t tiles = bands > 1 ? (pos1 - pos0 + mr - 1) / mr : flat_tiles_;
        partial_buf.resize(static_cast<size_t>(tiles * mr * nr));
        float* partial = partial_buf.data();
        for (int64_t k0 = 0; k0 < kdim; k0 += kTapBlock) {
          const int64_t len = std::min(kTapBlock, kdim - k0);
          const TapSegments seg{1, len, 0};
          const bool last = k0 + len == kdim;
          const float* next =
              !last ? bp + (k0 + len) * nr : prefetching ? packed + (p + 1) * panel_size : nullptr;
          const int64_t next_bytes =
              std::min(kTapBlock, last ? kdim : kdim - k0 - len) * nr * static_cast<int64_t>(sizeof(float));
          const int64_t step = std::clamp<int64_t>((next_bytes + tiles * len - 1) / (tiles * len), 1, 64);
          int64_t t = 0;
          for_each_even_tile(pos1 - pos0, mr, [&](int64_t at, int64_t count) {
            at += pos0;
            float* part = partial + t * mr * nr;
            const float* acc_in = k0 == 0 ? nullptr : part;
            // tiles past the block's size prefetch nothing (their share lies beyond it)
            const int64_t off = t * len * step;
            const TilePrefetch prefetch{
                next && off < next_bytes ? reinterpret_cast<const char*>(next) + off : nullptr, step};
            ++t;
            if (last) {
              run_tile(seg, k0, img + at, 1, count, yp + at, 1, acc_in, prefetch);
              return;
            }
            const DirectUkernelFn kernel = uk.tile[count - 1][kMaxTileVecs - 1];
            kernel(seg, img + at, koff + k0, 1, bp + k0 * nr, part, nr, 0, nullptr, acc_in,
                   prefetch);
          });
        }
        continue;
      }
      for (int64_t oy = row0; oy < row1; ++oy) {
        int64_t ky0, ky1, first;
        valid_taps(oy, s.sh, s.pt, s.dh, s.h, s.kh, ky0, ky1);
        const TapSegments seg = taps.segments(ky0, ky1, 0, s.kw, first);
        const float* row = img + oy * s.sh * wp;
        for_each_even_tile(x1 - x0, mr, [&](int64_t at, int64_t count) {
          const int64_t ox = x0 + at;
          run_tile(seg, first, row + ox * s.sw, s.sw, count, yp + oy * s.ow + ox, 1, nullptr,
                   next_prefetch(seg.segs * seg.len));
        });
      }
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        if (ox == x0) ox = x1;
        if (ox >= s.ow) break;
        int64_t kx0, kx1, first;
        valid_taps(ox, s.sw, s.pl, s.dw, s.w, s.kw, kx0, kx1);
        const TapSegments seg = taps.segments(0, s.kh, kx0, kx1, first);
        for_each_even_tile(row1 - row0, mr, [&](int64_t at, int64_t count) {
          at += row0;
          run_tile(seg, first, img + at * s.sh * wp + ox * s.sw, s.sh * wp, count,
                   yp + at * s.ow + ox, s.ow, nullptr, next_prefetch(seg.segs * seg.len));
        });
      }
    }
  });
}

}  // namespace pcn::conv
