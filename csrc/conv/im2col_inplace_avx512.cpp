// AVX-512 kernel of im2col read in place (im2col_inplace.h): register tiles of up to 6 output
// channels x 4 vectors of 16 output positions, each vector a run of one output row read with
// an unaligned load from the padded image per k.
//
// Why this shape: one zmm of positions per run, so the tile grows along positions. 6 rows x 4
// vectors is 24 accumulators (enough FMAs in flight for two 512-bit pipes with a 4-cycle
// latency) + 4 B vectors + 1 broadcast = 29 of 32 zmm; per k it does 4 B loads and 6
// broadcasts for 24 FMAs. 6 rows is the PackedA panel height, so the packed weights are read
// as they are. A run shorter than 16 (the end of an output row of width 28, say) still loads
// 16 floats (the padded image has slack) and stores its lanes with a mask.
#include <immintrin.h>

#include "conv/im2col_inplace.h"
#include "gemm/ukernel.h"

// GCC 12 warns about the undefined pass-through operand of some AVX-512 intrinsics
// (maybe-uninitialized at every inlining, GCC PR 105593); the value is never used.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pcn::conv {
namespace {

using gemm::MR;
constexpr int kRuns = 4;  // vectors of positions per tile

struct Runs {
  const float* b[kRuns];  // image origin of each run (k = 0 reads b[j][koff[0]])
  float* c[kRuns];        // output of each run, channel 0
  __mmask16 mask[kRuns];  // lanes of each run inside the output row
};

template <int R, int V>
void tile(int64_t kdim, const float* a, const int64_t* koff, const Runs& runs, int64_t ldc,
          const float* bias_m, bool relu) {
  __m512 acc[R][V];
#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < V; ++j) acc[i][j] = _mm512_setzero_ps();
  const float* b[V];
#pragma GCC unroll 4
  for (int j = 0; j < V; ++j) b[j] = runs.b[j];

#pragma GCC unroll 2
  for (int64_t k = 0; k < kdim; ++k) {
    const int64_t off = koff[k];
    __m512 bv[V];
#pragma GCC unroll 4
    for (int j = 0; j < V; ++j) bv[j] = _mm512_loadu_ps(b[j] + off);
#pragma GCC unroll 6
    for (int i = 0; i < R; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
      for (int j = 0; j < V; ++j) acc[i][j] = _mm512_fmadd_ps(av, bv[j], acc[i][j]);
    }
    a += MR;
  }

#pragma GCC unroll 6
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < V; ++j) {
      __m512 v = acc[i][j];
      if (bias_m) v = _mm512_add_ps(v, _mm512_set1_ps(bias_m[i]));
      // max(0, v) with 0 first: VMAXPS returns the second operand when either is NaN, so NaN
      // survives, as in the GEMM kernels.
      if (relu) v = _mm512_max_ps(_mm512_setzero_ps(), v);
      float* c = runs.c[j] + i * ldc;
      if (runs.mask[j] == 0xFFFF)
        _mm512_storeu_ps(c, v);
      else
        _mm512_mask_storeu_ps(c, runs.mask[j], v);
    }
}

using TileFn = void (*)(int64_t, const float*, const int64_t*, const Runs&, int64_t,
                        const float*, bool);

template <int R>
constexpr TileFn pick(int v) {
  return v == 1 ? &tile<R, 1> : v == 2 ? &tile<R, 2> : v == 3 ? &tile<R, 3> : &tile<R, 4>;
}

// kTiles[r - 1][v - 1]: r channels x v runs.
constexpr TileFn kTiles[MR][kRuns] = {
    {pick<1>(1), pick<1>(2), pick<1>(3), pick<1>(4)}, {pick<2>(1), pick<2>(2), pick<2>(3), pick<2>(4)},
    {pick<3>(1), pick<3>(2), pick<3>(3), pick<3>(4)}, {pick<4>(1), pick<4>(2), pick<4>(3), pick<4>(4)},
    {pick<5>(1), pick<5>(2), pick<5>(3), pick<5>(4)}, {pick<6>(1), pick<6>(2), pick<6>(3), pick<6>(4)}};

// All channels of the runs gathered so far, in panels of MR channels.
void run_tiles(const InplaceGemm& g, const Runs& runs, int nruns) {
  for (int64_t ir = 0; ir < g.m; ir += MR) {
    const int64_t rows = g.m - ir < MR ? g.m - ir : MR;
    Runs r = runs;
    for (int j = 0; j < nruns; ++j) r.c[j] += ir * g.ldy;
    kTiles[rows - 1][nruns - 1](g.kdim, g.a + ir * g.kdim, g.koff, r, g.ldy,
                                g.bias ? g.bias + ir : nullptr, g.relu);
  }
}

}  // namespace

void im2col_inplace_avx512(const InplaceGemm& g, int64_t p0, int64_t p1) {
  Runs runs;
  int nruns = 0;
  for (int64_t p = p0; p < p1;) {
    const int64_t oy = p / g.ow, ox = p - oy * g.ow;
    int64_t len = g.ow - ox;
    if (len > 16) len = 16;
    if (len > p1 - p) len = p1 - p;
    runs.b[nruns] = g.x + oy * g.sh * g.wp + ox;
    runs.c[nruns] = g.y + p;
    runs.mask[nruns] = static_cast<__mmask16>((1u << len) - 1);
    if (++nruns == kRuns) {
      run_tiles(g, runs, nruns);
      nruns = 0;
    }
    p += len;
  }
  if (nruns > 0) run_tiles(g, runs, nruns);
}

}  // namespace pcn::conv
