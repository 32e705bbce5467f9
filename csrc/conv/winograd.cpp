#include "conv/winograd.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/threading.h"
#include "conv/winograd_kernels.h"

namespace pcn::conv {

bool winograd_applies(const Conv2dShape& s) {
  return s.kh == 3 && s.kw == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 &&
         s.groups == 1 && s.c >= 1 && s.oc >= 1 && s.oh >= 1 && s.ow >= 1;
}

namespace {

// Tiles per block. A block's V (points x C x tiles floats) is read once per row block of
// output channels, so it should stay in L2 (1 MB per core here): for F(4x4, 3x3) 32 tiles keep
// it at 288 KB for 64 input channels; wider channels take 16. F(2x2, 3x3)'s 16 points take
// twice the tiles for the same bytes (256 KB for 64 -> 128 channels, 512 KB for 256).
int64_t block_tiles(int64_t c, WinogradVariant v) {
  if (v == WinogradVariant::f4x4) return c <= 96 ? 32 : 16;
  return c <= 96 ? 64 : c <= 256 ? 32 : 16;
}

}  // namespace

void winograd_forward(const Conv2dShape& s, const float* x, const WinogradWeights& u,
                      const float* bias, float* y, bool relu) {
  winograd_forward(s, select_winograd_kernels(u.variant()), x, u, bias, y, relu);
}

void winograd_forward(const Conv2dShape& s, const WinogradKernels& kern, const float* x,
                      const WinogradWeights& u, const float* bias, float* y, bool relu) {
  PCN_CHECK(winograd_applies(s), "winograd_forward: shape not supported");
  PCN_CHECK(u.in_channels() == s.c && u.out_channels() == s.oc,
            "winograd_forward: weights for ", u.in_channels(), " -> ", u.out_channels(),
            " channels, input shape needs ", s.c, " -> ", s.oc);
  PCN_CHECK(kern.variant == u.variant(), "winograd_forward: kernels and weights of different variants");
  if (s.n == 0) return;
  const int64_t C = s.c, K = s.oc;
  const int64_t out = winograd_out(u.variant()), points = winograd_points(u.variant());
  const int64_t tw = (s.ow + out - 1) / out;
  const int64_t th = (s.oh + out - 1) / out;
  const int64_t per_image = th * tw, total = s.n * per_image;
  const int64_t tb = block_tiles(C, u.variant());
  int64_t blocks = (total + tb - 1) / tb;
  const int64_t kblocks = u.row_blocks();
  // Blocks that do not spread evenly over the threads (one block at batch 1 on 16x16 maps
  // with F(4x4, 3x3)):
  // the row blocks of output channels are split in `groups` as well, each group transforming
  // the block's input again.
  const int64_t nt = get_num_threads();
  const int64_t groups =
      blocks >= 2 * nt || blocks % nt == 0 ? 1 : std::min<int64_t>(kblocks, nt);
  // Otherwise at batch 1 the tiles are first cut into one band per thread (consecutive tile
  // rows), each band into the same number of blocks: threads take their own band's blocks
  // first (threading.h), so each reads and writes the rows its core wrote in the layer before.
  const int64_t bands = groups == 1 ? batch1_bands(s.n, total) : 1;
  const int64_t band_blocks = ((total + bands - 1) / bands + tb - 1) / tb;
  if (bands > 1) blocks = bands * band_blocks;
  const int64_t items = blocks * groups;
  // Row strides with one extra cache line, so the points' rows do not fall 4 KB apart
  // (the same L1 set) when C x tiles is a multiple of 1024.
  const int64_t ld = (tb + 15) / 16 * 16;
  const int64_t ldxi_v = C * ld + 16;
  const int64_t ldxi_m = kWinogradRows * ld + 16;

  // Pieces of up to `pitch` tiles, grouped lanes / pitch to a vector: maps of up to 4 or 8
  // tiles across fill the vectors with several tile rows.
  const int64_t pitch = std::min<int64_t>(kern.lanes, tw <= 4 ? 4 : tw <= 8 ? 8 : 16);
  const int group = static_cast<int>(kern.lanes / pitch);
  const WinogradGeometry geo{C, s.h, s.w, s.pt, s.pl, K, s.oh, s.ow};

  static std::atomic<uint64_t> calls{0};
  const uint64_t call = ++calls;
  parallel_for_dynamic(items, bands > 1 ? 1 : dynamic_chunk(items, 1), [&](int64_t i0, int64_t i1) {
    thread_local AlignedBuffer vbuf, mbuf;
    thread_local std::vector<WinogradPiece> pieces;
    thread_local uint64_t v_call = 0;
    thread_local int64_t v_block = -1;
    vbuf.resize(static_cast<size_t>(points * ldxi_v));
    mbuf.resize(static_cast<size_t>(points * ldxi_m));
    float* v = vbuf.data();
    float* m = mbuf.data();
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t blk = item / groups, grp = item % groups;
      // in a band, band_blocks blocks of sizes differing by at most one
      const int64_t band = blk / band_blocks, j = blk % band_blocks;
      const int64_t b0 = band_begin(total, band, bands), len = band_begin(total, band + 1, bands) - b0;
      const int64_t t0 = bands > 1 ? b0 + len * j / band_blocks : blk * tb;
      const int64_t t1 = bands > 1 ? b0 + len * (j + 1) / band_blocks : std::min(total, t0 + tb);
      if (t0 >= t1) continue;
      const int64_t cols = t1 - t0;
      // Calls f(first piece, count, lane) for each group of pieces of this block.
      auto for_each_group = [&](auto&& f) {
        int64_t lane = 0;
        for (size_t p = 0; p < pieces.size(); p += group) {
          const int count = static_cast<int>(std::min<size_t>(group, pieces.size() - p));
          f(&pieces[p], count, lane);
          for (int q = 0; q < count; ++q) lane += pieces[p + q].n;
        }
      };
      if (v_call != call || v_block != blk) {
        v_call = 0;  // until transformed (a kernel may throw)
        pieces.clear();
        for (int64_t t = t0; t < t1;) {
          const int64_t b = t / per_image, r = t % per_image, ty = r / tw, tx = r % tw;
          const int64_t n = std::min({tw - tx, t1 - t, pitch});
          pieces.push_back({b, ty, tx, n});
          t += n;
        }
        for_each_group([&](const WinogradPiece* pc, int count, int64_t lane) {
          kern.input(x, geo, pc, count, pitch, v + lane, ld, ldxi_v);
        });
        v_call = call;
        v_block = blk;
      }
      const int64_t kb0 = kblocks * grp / groups, kb1 = kblocks * (grp + 1) / groups;
      for (int64_t kb = kb0; kb < kb1; ++kb) {
        const int64_t k0 = kb * kWinogradRows, rows = std::min(kWinogradRows, K - k0);
        // Each GEMM prefetches the panel of the next into L2: at batch 1 a served network
        // reads every layer's U from memory (ResNet-50's 3x3 layers alone hold 40-90 MB of
        // it), and a panel's first pass waited on it. With the prefetch, 3x3 256 -> 256 on
        // 14x14 at batch 1 took 0.30 ms instead of 0.63 (F(4x4, 3x3)) and 0.31 instead of
        // 0.55 (F(2x2, 3x3)) in a chain of such layers (benchmarks/compare_served_3x3.py,
        // 2 threads); with U in cache it costs nothing measurable.
        for (int64_t xi = 0; xi < points; ++xi) {
          const float* next = xi + 1 < points ? u.panel(xi + 1, kb)
                              : kb + 1 < kb1  ? u.panel(0, kb + 1)
                                              : nullptr;
          kern.gemm(rows, cols, C, u.panel(xi, kb), v + xi * ldxi_v, ld, m + xi * ldxi_m, ld, next);
        }
        for_each_group([&](const WinogradPiece* pc, int count, int64_t lane) {
          kern.output(m + lane, ldxi_m, ld, rows, geo, pc, count, pitch, k0, bias, relu, y);
        });
      }
    }
  });
}

}  // namespace pcn::conv
