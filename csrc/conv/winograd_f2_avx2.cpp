// AVX2/FMA Winograd F(2x2, 3x3) transforms (winograd_kernels.h), vectorised across 8 tiles: one
// piece of 8 tiles or two of 4 per vector. Tiles are 2 apart: the pieces' first 2 * pitch
// floats of a row fill two vectors (16 floats), split into tile columns 0 and 1 (even and odd
// floats) by one in-lane shuffle and a 64-bit permute each; columns 2 and 3 are columns 0 and 1
// one tile on, where the last tile of a piece takes the 2 floats past it. The output rows are
// the 2 output columns interleaved. The GEMM is F(4x4, 3x3)'s (winograd_avx2.cpp).
#include <immintrin.h>

#include "conv/winograd.h"
#include "conv/winograd_kernels.h"
#include "conv/winograd_lanes_avx2.h"

namespace pcn::conv {
namespace {

constexpr int64_t kOut = winograd_out(WinogradVariant::f2x2);  // output tile side
constexpr int64_t kPrefetchChannels = 2;                        // as in winograd_avx512.cpp

// v = B^T d on vectors; points 0, 1, -1 and infinity.
__attribute__((always_inline)) inline void input_line(const __m256* d, __m256* v) {
  v[0] = _mm256_sub_ps(d[0], d[2]);
  v[1] = _mm256_add_ps(d[1], d[2]);
  v[2] = _mm256_sub_ps(d[2], d[1]);
  v[3] = _mm256_sub_ps(d[1], d[3]);
}

// o = A^T m on vectors.
__attribute__((always_inline)) inline void output_line(const __m256* m, __m256* o) {
  const __m256 s = _mm256_add_ps(m[1], m[2]), d = _mm256_sub_ps(m[1], m[2]);
  o[0] = _mm256_add_ps(m[0], s);
  o[1] = _mm256_sub_ps(d, m[3]);
}

// The even (imm 0x88) or odd (0xDD) floats of a then b, in order.
template <int IMM>
__attribute__((always_inline)) inline __m256 deinterleave(__m256 a, __m256 b) {
  // per 128-bit half: a's two then b's two; the 64-bit permute puts a's halves first
  const __m256 s = _mm256_shuffle_ps(a, b, IMM);
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), 0xD8));
}

// A piece of PITCH tiles fills PITCH / 4 of the two row vectors; vector j belongs to one piece.
template <int PITCH>
constexpr int piece_of(int j) {
  return PITCH == 8 ? 0 : j;
}

// PITCH a template argument, so that the loops over pieces and vectors unroll and the row
// vectors stay in registers.
template <int PITCH>
void input_pitch(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                 int count, float* v, int64_t ldv, int64_t ldxi) {
  constexpr int64_t pitch = PITCH;
  constexpr int slots = static_cast<int>(kLanes / PITCH);
  constexpr int64_t span = 2 * PITCH;  // a piece's floats in the row vectors
  int64_t total;
  const unsigned bits = piece_bits(pieces, count, pitch, total);
  const bool packed = bits == (1u << total) - 1;
  const __m256i compress = compress_index(bits);
  const __m256i store = first_lanes(total);
  // A masked store (vmaskmovps) costs far more than a plain one on AMD cores: only for tails.
  const bool whole = total == kLanes;
  const NextColumns next_columns(pitch);
  // Per piece: its image's first plane and first row; per row vector the offset of lane 0 from
  // the start of an image row and the lanes inside the image; the 2 floats past the piece.
  const float* base[slots];
  int64_t row0[slots], off[2], ext_off[slots];
  __m256i load[2], tail[slots];
  for (int p = 0; p < slots; ++p) {
    const bool live = p < count;
    row0[p] = live ? pieces[p].ty * kOut - g.pt : -4;
    const int64_t x0 = live ? pieces[p].tx * kOut - g.pl : 0;
    base[p] = live ? x + pieces[p].image * g.c * g.h * g.w : x;
    ext_off[p] = x0 + span;
    tail[p] = _mm256_and_si256(lanes_within(ext_off[p], live ? 0 : 1, live ? g.w : 0),
                               first_lanes(2));
  }
  for (int j = 0; j < 2; ++j) {
    const int p = piece_of<PITCH>(j);
    const bool live = p < count;
    const int64_t x0 = live ? pieces[p].tx * kOut - g.pl : 0;
    off[j] = x0 + 8 * j - span * p;
    load[j] = lanes_within(off[j], live ? 0 : 1, live ? g.w : 0);
  }
  for (int64_t ch = 0; ch < g.c; ++ch) {
    const int64_t plane = ch * g.h * g.w;
    __m256 e[4][4];
    for (int r = 0; r < 4; ++r) {
      __m256 raw[2], ext[2];
      bool any = false;
      for (int p = 0; p < slots; ++p) {
        const int64_t y = row0[p] + r;
        const bool in = p < count && y >= 0 && y < g.h;
        any |= in;
        const float* row = base[p] + plane + y * g.w;  // masked lanes are not read
        for (int j = 0; j < 2; ++j)
          if (piece_of<PITCH>(j) == p)
            raw[j] = in ? _mm256_maskload_ps(row + off[j], load[j]) : _mm256_setzero_ps();
        ext[p] = in ? _mm256_maskload_ps(row + ext_off[p], tail[p]) : _mm256_setzero_ps();
        if (in && ch + kPrefetchChannels < g.c) {
          const float* ahead = row + ext_off[p] - span + kPrefetchChannels * g.h * g.w;
          _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(ahead + span + 1), _MM_HINT_T0);
        }
      }
      if (!any) {
        for (int a = 0; a < 4; ++a) e[r][a] = _mm256_setzero_ps();
        continue;
      }
      __m256 d[4];
      d[0] = deinterleave<0x88>(raw[0], raw[1]);
      d[1] = deinterleave<0xDD>(raw[0], raw[1]);
      const __m256 extra = slots == 2 ? _mm256_shuffle_ps(ext[0], ext[1], 0x44) : ext[0];
      next_columns(d[0], d[1], extra, d[2], d[3]);
      input_line(d, e[r]);
    }
    float* vc = v + ch * ldv;
    for (int a = 0; a < 4; ++a) {
      __m256 col[4], out[4];
      for (int r = 0; r < 4; ++r) col[r] = e[r][a];
      input_line(col, out);
      for (int b = 0; b < 4; ++b) {
        const __m256 o = packed ? out[b] : _mm256_permutevar8x32_ps(out[b], compress);
        if (whole) _mm256_storeu_ps(vc + (b * 4 + a) * ldxi, o);
        else _mm256_maskstore_ps(vc + (b * 4 + a) * ldxi, store, o);
      }
    }
  }
}

template <int PITCH>
void output_pitch(const float* m, int64_t ldxi, int64_t ldm, int64_t nrows,
                  const WinogradGeometry& g, const WinogradPiece* pieces, int count, int64_t k0,
                  const float* bias, bool relu, float* y) {
  constexpr int64_t pitch = PITCH;
  constexpr int64_t span = 2 * PITCH;
  int64_t total;
  const unsigned bits = piece_bits(pieces, count, pitch, total);
  const bool packed = bits == (1u << total) - 1;
  const __m256i expand = expand_index(bits);
  const __m256i load = first_lanes(total);
  // Per output row vector j (of piece piece_of(j)): where its lane 0 goes from the piece's
  // first output of channel 0, and the lanes inside the map (all of them: a plain store).
  float* first[2] = {nullptr, nullptr};
  int64_t rows_in[2] = {0, 0};
  __m256i store[2];
  bool whole[2];
  int64_t off[2];
  for (int j = 0; j < 2; ++j) {
    const int p = piece_of<PITCH>(j);
    if (p >= count) continue;
    const WinogradPiece& pc = pieces[p];
    const int64_t oy0 = pc.ty * kOut, xs = pc.tx * kOut;
    const int64_t xe = min64(g.ow, xs + kOut * pc.n);
    first[j] = y + pc.image * g.k * g.oh * g.ow + oy0 * g.ow + xs;
    rows_in[j] = min64(kOut, g.oh - oy0);
    off[j] = 8 * j - span * p;
    store[j] = lanes_within(xs + off[j], xs, xe);
    whole[j] = xs + off[j] + 8 <= xe;
  }
  for (int64_t r = 0; r < nrows; ++r) {
    const float* mr = m + r * ldm;
    const __m256 bv = _mm256_set1_ps(bias ? bias[k0 + r] : 0.0f);
    __m256 o[2][2];  // o[i][j]: output row i, column j of each tile
    transform_output<4, 2>(mr, ldxi, load, expand, packed, bv, relu,
                               [](const __m256* in, __m256* res) { output_line(in, res); }, o);
    const int64_t plane = (k0 + r) * g.oh * g.ow;
    for (int i = 0; i < 2; ++i) {
      // the 2 columns interleaved: tiles 0-3, then tiles 4-7
      const __m256 lo = _mm256_unpacklo_ps(o[i][0], o[i][1]);
      const __m256 hi = _mm256_unpackhi_ps(o[i][0], o[i][1]);
      const __m256 rows[2] = {_mm256_permute2f128_ps(lo, hi, 0x20),
                              _mm256_permute2f128_ps(lo, hi, 0x31)};
      for (int j = 0; j < 2; ++j) {
        if (!first[j] || i >= rows_in[j]) continue;
        float* dst = first[j] + plane + i * g.ow + off[j];
        if (whole[j]) _mm256_storeu_ps(dst, rows[j]);
        else _mm256_maskstore_ps(dst, store[j], rows[j]);
      }
    }
  }
}

void input_avx2(const float* x, const WinogradGeometry& g, const WinogradPiece* pieces,
                int count, int64_t pitch, float* v, int64_t ldv, int64_t ldxi) {
  if (pitch == 4) input_pitch<4>(x, g, pieces, count, v, ldv, ldxi);
  else input_pitch<8>(x, g, pieces, count, v, ldv, ldxi);
}

void output_avx2(const float* m, int64_t ldxi, int64_t ldm, int64_t rows,
                 const WinogradGeometry& g, const WinogradPiece* pieces, int count,
                 int64_t pitch, int64_t k0, const float* bias, bool relu, float* y) {
  if (pitch == 4) output_pitch<4>(m, ldxi, ldm, rows, g, pieces, count, k0, bias, relu, y);
  else output_pitch<8>(m, ldxi, ldm, rows, g, pieces, count, k0, bias, relu, y);
}

}  // namespace

const WinogradKernels& winograd_f2_kernels_avx2() {
  static const WinogradKernels k{&input_avx2, winograd_kernels_avx2().gemm, &output_avx2, kLanes,
                                 WinogradVariant::f2x2};
  return k;
}

}  // namespace pcn::conv
