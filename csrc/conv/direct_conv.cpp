#include "conv/direct_conv.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "common/aligned_buffer.h"
#include "common/threading.h"
#include "conv/direct_taps.h"
#include "conv/direct_ukernel.h"
#include "conv/even_tiles.h"
#include "conv/im2col_pack.h"

namespace pcn::conv {

using gemm::NR;

namespace {

// Weights of up to this many floats (256 KB) are packed by every thread into its own buffer
// (kept between calls, repacked on each). Shared panels written by one core and read by both
// are invalidated in the other core's cache on every call: packing 5x5 x 32 -> 64 (205 KB)
// took 80 us on each of two threads against 27 us for all of it on one.
constexpr int64_t kPrivatePackFloats = 64 * 1024;

}  // namespace

AlignedBuffer pack_direct_taps(const Conv2dShape& s, const float* w, const DirectUkernels& uk) {
  const DirectTaps taps(s, uk.width);
  AlignedBuffer out(static_cast<size_t>(taps.panels() * taps.panel_size()));
  taps.pack(w, 0, taps.panels(), out.data());
  return out;
}

void direct_conv_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                         float* y, bool relu) {
  direct_conv_forward(s, select_direct_ukernels(), x, w, bias, y, relu, nullptr);
}

void direct_conv_forward(const Conv2dShape& s, const DirectUkernels& uk, const float* x,
                         const float* w, const float* bias, float* y, bool relu,
                         const float* prepacked) {
  const int64_t oc = s.oc, ohw = s.oh * s.ow;
  const int64_t wp = s.w + s.pl + s.pr;
  const int64_t mr = uk.positions, nr = uk.width;
  const DirectTaps taps(s, nr);
  const int64_t panels = taps.panels(), panel_size = taps.panel_size();
  const bool private_pack = !prepacked && panels * panel_size <= kPrivatePackFloats;
  AlignedBuffer shared;
  if (!private_pack && !prepacked) {
    shared.resize(static_cast<size_t>(panels * panel_size));
    parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
      taps.pack(w, p0, p1, shared.data() + p0 * panel_size);
    });
  }
  AlignedBuffer bb(static_cast<size_t>(panels * nr));
  for (int64_t j = 0; j < panels * nr; ++j) bb.data()[j] = (bias && j < oc) ? bias[j] : 0.0f;
  const float* biasp = bias ? bb.data() : nullptr;
  const int flags = relu ? gemm::kRelu : 0;
  const int64_t x0 = taps.interior_begin(), x1 = taps.interior_end();

  // Threads take chunks of output rows of the whole batch in turn, up to 8 chunks per thread
  // of at least 8 rows each (no more than an image): a core shared with another process then
  // takes fewer chunks (with a busy process on one of two cores: 1.26-1.42x the even static
  // split). Small calls keep one chunk per thread, since a chunk of rows pads its halo rows
  // again. Each output is computed by one thread with the same taps in the same order
  // whatever chunk or tile it falls in.
  const int64_t rows = s.n * s.oh;
  const int64_t chunk = std::min(s.oh, dynamic_chunk(rows, 8));
  // Without pre-packed weights, each thread packs them once per call, on its first chunk.
  static std::atomic<uint64_t> calls{0};
  const uint64_t call = ++calls;
  parallel_for_dynamic(rows, chunk, [&](int64_t r0, int64_t r1) {
    const float* packed = prepacked ? prepacked : shared.data();
    if (private_pack) {
      thread_local AlignedBuffer mine;
      thread_local uint64_t mine_call = 0;
      if (mine_call != call) {
        mine_call = 0;  // until packed (pack may throw)
        mine.resize(static_cast<size_t>(panels * panel_size));
        taps.pack(w, 0, panels, mine.data());
        mine_call = call;
      }
      packed = mine.data();
    }
    // One tile: `count` positions from `origin` (position i at origin + i * astride), output
    // channels [nr * p, nr * p + nr), taps `seg` from tap `first`; position i and channel j
    // are written to dst[i * pos_stride + j * ch_stride] (dst: the panel's first channel).
    auto run_tile = [&](TapSegments seg, int64_t first, int64_t p, const float* origin,
                        int64_t astride, int64_t count, float* dst, int64_t pos_stride,
                        int64_t ch_stride) {
      const int64_t cols = std::min(nr, oc - p * nr);
      // every panel but the last is full (no divisions for those)
      const bool full = cols == nr;
      const DirectUkernelFn kernel =
          uk.tile[count - 1][full ? kMaxTileVecs - 1 : (cols + uk.vec - 1) / uk.vec - 1];
      const float* bp = packed + p * panel_size + first * nr;
      const float* bias_p = biasp ? biasp + p * nr : nullptr;
      if (pos_stride == 1 && (full || cols % uk.vec == 0)) {  // straight into the output rows
        kernel(seg, origin, taps.koff() + first, astride, bp, dst, ch_stride,
               flags | kChannelMajor, bias_p, nullptr, kNoPrefetch);
        return;
      }
      alignas(64) float tile[kMaxTilePositions * kMaxTileVecs * 16];
      kernel(seg, origin, taps.koff() + first, astride, bp, tile, nr, flags, bias_p, nullptr, kNoPrefetch);
      for (int64_t j = 0; j < cols; ++j)
        for (int64_t i = 0; i < count; ++i)
          dst[j * ch_stride + i * pos_stride] = tile[i * nr + j];
    };
    thread_local PaddedImage img;  // its buffer kept between chunks and calls
    // With output planes a multiple of 4 KB apart (ohw % 1024 == 0, e.g. 32x32 and 64x64
    // maps), a tile's channel rows all fall in the same L1 set: 32 rows (AVX-512) overflow its
    // 12 ways and are written back and refetched for every tile along the row. Such rows are
    // then gathered in a buffer of the thread's rows of the image whose channels are not 4 KB
    // apart, and copied out once per image plane by plane: 1.04x on 3x3 64->64 32x32 and
    // 1.06x on 64x64 over direct stores (0.97x on 24x24, so only then), and 1.02-1.04x
    // over copying out each output row (32 scattered 120-byte copies into lines not yet in
    // cache per row; plane by plane the stores run sequentially). 16 rows (AVX2) measured no
    // gain and keep the direct stores.
    const bool via_row_buffer = nr > 16 && ohw % 1024 == 0 && x1 > x0;
    const int64_t ldr = (x1 - x0 + 15) / 16 * 16 + 16;  // floats; rows 64-byte aligned
    // channel stride: the rows of one image, plus one line so channels spread over L1 sets
    const int64_t ldp = std::min(r1 - r0, s.oh) * ldr + 16;
    thread_local AlignedBuffer row_buffer;
    if (via_row_buffer) row_buffer.resize(static_cast<size_t>(panels * nr * ldp));
    for (int64_t b = r0 / s.oh; b * s.oh < r1; ++b) {
      const int64_t oy0 = std::max<int64_t>(r0 - b * s.oh, 0);
      const int64_t oy1 = std::min<int64_t>(r1 - b * s.oh, s.oh);
      // Only the padded rows this thread's output rows read (a batch-1 call splits an image).
      img.assign_rows(s, x + b * s.c * s.h * s.w, oy0 * s.sh,
                      (oy1 - 1) * s.sh + (s.kh - 1) * s.dh + 1);
      float* yb = y + b * oc * ohw;
      // Interior columns: tiles of consecutive positions along each output row, skipping the
      // kernel rows on the padding.
      for (int64_t oy = oy0; oy < oy1; ++oy) {
        int64_t ky0, ky1, first;
        valid_taps(oy, s.sh, s.pt, s.dh, s.h, s.kh, ky0, ky1);
        const TapSegments seg = taps.segments(ky0, ky1, 0, s.kw, first);
        const float* row = img.data() + oy * s.sh * wp;
        for (int64_t p = 0; p < panels; ++p) {
          if (via_row_buffer) {
            float* rb = row_buffer.data() + p * nr * ldp + (oy - oy0) * ldr;
            for_each_even_tile(x1 - x0, mr, [&](int64_t at, int64_t count) {
              const int64_t ox = x0 + at;
              run_tile(seg, first, p, row + ox * s.sw, s.sw, count, rb + at, 1, ldp);
            });
            continue;
          }
          for_each_even_tile(x1 - x0, mr, [&](int64_t at, int64_t count) {
            const int64_t ox = x0 + at;
            run_tile(seg, first, p, row + ox * s.sw, s.sw, count,
                     yb + p * nr * ohw + oy * s.ow + ox, 1, ohw);
          });
        }
      }
      if (via_row_buffer)
        for (int64_t j = 0; j < oc; ++j) {
          const float* rb = row_buffer.data() + j * ldp;
          for (int64_t oy = oy0; oy < oy1; ++oy)
            std::memcpy(yb + j * ohw + oy * s.ow + x0, rb + (oy - oy0) * ldr,
                        static_cast<size_t>(x1 - x0) * sizeof(float));
        }
      // Edge columns: tiles down a column, skipping the kernel columns on the padding. They
      // keep every kernel row (zeros on the padding), so that a sum does not depend on which
      // rows share its tile and a tile can span all of the thread's rows.
      for (int64_t ox = 0; ox < s.ow; ++ox) {
        if (ox == x0) ox = x1;
        if (ox >= s.ow) break;
        int64_t kx0, kx1, first;
        valid_taps(ox, s.sw, s.pl, s.dw, s.w, s.kw, kx0, kx1);
        const TapSegments seg = taps.segments(0, s.kh, kx0, kx1, first);
        for (int64_t p = 0; p < panels; ++p)
          for_each_even_tile(oy1 - oy0, mr, [&](int64_t at, int64_t count) {
            const int64_t oy = oy0 + at;
            run_tile(seg, first, p, img.data() + oy * s.sh * wp + ox * s.sw, s.sh * wp, count,
                     yb + p * nr * ohw + oy * s.ow + ox, s.ow, ohw);
          });
      }
    }
  });
}

}  // namespace pcn::conv
