// AVX-512 element-wise activations: the AVX2 kernels' formulas (activation_avx2.cpp), 16 lanes
// at a time. Everything stays in this file's anonymous namespace; only kernels_avx512() is
// exported.
//
// Same exp/expm1 as the AVX2 file (Cody-Waite reduction, the same degree-4 q(r), the same clamps
// and NaN-preserving min/max operand order), so each lane performs the same float operations as
// an AVX2 lane and the accuracy bounds carry over unchanged. Two AVX-512 instructions shorten it
// without changing a bit: vscalefps multiplies by 2^n with a single rounding (the AVX2 code needs
// two multiplies by 2^(n/2) for the same correctly rounded subnormal results), and comparisons
// go to mask registers, so blends and relu's backward are one masked move.
//
// Blocks of 2 x 16 lanes give two independent polynomial chains per iteration (the exp-based ops
// are latency-bound otherwise). Measured against the AVX2 table on Zen 5, one thread: sigmoid,
// tanh, elu forward and elu backward 2-2.6x on 64K floats; relu and the other backwards are
// memory-bound, ~1.1x (benchmarks/compare_isa_elementwise.py). The tail (n % 16) is one masked load / op / masked store: the
// inactive lanes load 0 and are never written, and an element's result never depends on its
// position. No MXCSR state is read or changed.
// GCC 12's AVX-512 intrinsics build their "undefined" pass-through vectors as `__m512 __Y = __Y`,
// which -Wmaybe-uninitialized reports at every inlined use (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cstdint>

#include "activation/activation.h"

namespace pcn::activation {
namespace {

// q(r) coefficients, e^r ~= 1 + r + r^2 * (c0 + c1 r + c2 r^2 + c3 r^3 + c4 r^4).
constexpr float kC0 = 0x1.fffffcp-2f;
constexpr float kC1 = 0x1.555492p-3f;
constexpr float kC2 = 0x1.5558f2p-5f;
constexpr float kC3 = 0x1.1239d4p-7f;
constexpr float kC4 = 0x1.6a244cp-10f;
constexpr float kLog2e = 0x1.715476p+0f;
constexpr float kLn2Hi = 0x1.62e4p-1f;            // 15 significant bits: n * kLn2Hi is exact
constexpr float kLn2Lo = 0x1.7f7d1cp-20f;         // ln2 - kLn2Hi

inline __m512 bc(float v) { return _mm512_set1_ps(v); }

// Range reduction shared by exp and expm1: returns n (as float) and s = e^r - 1.
inline void reduce(__m512 x, __m512& n, __m512& s) {
  n = _mm512_roundscale_ps(_mm512_mul_ps(x, bc(kLog2e)),
                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, bc(kLn2Hi), x);
  r = _mm512_fnmadd_ps(n, bc(kLn2Lo), r);
  __m512 q = _mm512_fmadd_ps(bc(kC4), r, bc(kC3));
  q = _mm512_fmadd_ps(q, r, bc(kC2));
  q = _mm512_fmadd_ps(q, r, bc(kC1));
  q = _mm512_fmadd_ps(q, r, bc(kC0));
  s = _mm512_fmadd_ps(q, _mm512_mul_ps(r, r), r);
}

// exp(x) for all x: overflow gives +inf, deep underflow 0, subnormal results rounded once
// (vscalefps rounds p * 2^n once, as the AVX2 code's exact-then-rounding pair of multiplies).
inline __m512 exp_ps(__m512 x) {
  x = _mm512_max_ps(bc(-110.0f), _mm512_min_ps(bc(89.0f), x));
  __m512 n, s;
  reduce(x, n, s);
  return _mm512_scalef_ps(_mm512_add_ps(s, bc(1.0f)), n);
}

// expm1(x) for x <= 0 (larger x is treated as 0): 2^n * s + (2^n - 1). 2^n is built in the
// exponent bits as in the AVX2 code (n in [-127, 0]; 2^-127 encodes as 0), so the bits match.
// |x| < 2^-25 returns x itself (keeps -0 and subnormals exact).
inline __m512 expm1_neg_ps(__m512 x) {
  const __mmask16 tiny = _mm512_cmp_ps_mask(_mm512_abs_ps(x), bc(0x1p-25f), _CMP_LT_OQ);
  __m512 xc = _mm512_max_ps(bc(-88.0f), _mm512_min_ps(_mm512_setzero_ps(), x));
  __m512 n, s;
  reduce(xc, n, s);
  __m512 t = _mm512_castsi512_ps(_mm512_slli_epi32(
      _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23));
  __m512 r = _mm512_fmadd_ps(t, s, _mm512_sub_ps(t, bc(1.0f)));
  return _mm512_mask_blend_ps(tiny, r, x);
}

// Lanes [0, m) for 0 <= m < 16.
inline __mmask16 first(int64_t m) { return static_cast<__mmask16>((1u << m) - 1u); }

// Calls writing at least this many floats (4 MB per thread) use non-temporal stores, as in the
// AVX2 file: the output cannot stay cached anyway, and streaming skips the read-for-ownership
// of every output line.
constexpr int64_t kStreamMin = int64_t(1) << 20;

// Floats before y + i is 64-byte aligned (a zmm streaming store needs a full line).
inline int64_t head_to_align(const float* y) {
  return static_cast<int64_t>((64 - (reinterpret_cast<uintptr_t>(y) & 63)) & 63) / 4;
}

// 16 floats as two 32-byte loads: in the streaming loops the inputs usually sit at a different
// 64-byte offset than the aligned output, and there a zmm load would split a cache line every
// time (a 256-bit load every other time at worst).
inline __m512 ld2(const float* p) {
  return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(p)), _mm256_loadu_ps(p + 8), 1);
}

// y[i] = op(a[i]) for i < m <= 16, one masked block.
template <class Op>
inline void part1(const float* a, float* y, int64_t m, Op op) {
  const __mmask16 k = first(m);
  _mm512_mask_storeu_ps(y, k, op(_mm512_maskz_loadu_ps(k, a)));
}

template <class Op>
void map1(const float* a, float* y, int64_t n, Op op) {
  int64_t i = 0;
  if (n >= kStreamMin) {
    // Unaligned head (< 16 floats) masked, aligned body streamed, tail masked below.
    i = head_to_align(y);
    if (i) part1(a, y, i, op);
    for (; i + 32 <= n; i += 32) {
      __m512 r0 = op(ld2(a + i));
      __m512 r1 = op(ld2(a + i + 16));
      _mm512_stream_ps(y + i, r0);
      _mm512_stream_ps(y + i + 16, r1);
    }
    _mm_sfence();  // the streamed lines are visible before the caller reads y
  }
  for (; i + 32 <= n; i += 32) {
    __m512 r0 = op(_mm512_loadu_ps(a + i));
    __m512 r1 = op(_mm512_loadu_ps(a + i + 16));
    _mm512_storeu_ps(y + i, r0);
    _mm512_storeu_ps(y + i + 16, r1);
  }
  if (i + 16 <= n) {
    _mm512_storeu_ps(y + i, op(_mm512_loadu_ps(a + i)));
    i += 16;
  }
  if (i < n) part1(a + i, y + i, n - i, op);
}

template <class Op>
inline void part2(const float* a, const float* b, float* y, int64_t m, Op op) {
  const __mmask16 k = first(m);
  _mm512_mask_storeu_ps(y, k, op(_mm512_maskz_loadu_ps(k, a), _mm512_maskz_loadu_ps(k, b)));
}

template <class Op>
void map2(const float* a, const float* b, float* y, int64_t n, Op op) {
  int64_t i = 0;
  if (n >= kStreamMin) {
    i = head_to_align(y);
    if (i) part2(a, b, y, i, op);
    for (; i + 32 <= n; i += 32) {
      __m512 r0 = op(ld2(a + i), ld2(b + i));
      __m512 r1 = op(ld2(a + i + 16), ld2(b + i + 16));
      _mm512_stream_ps(y + i, r0);
      _mm512_stream_ps(y + i + 16, r1);
    }
    _mm_sfence();
  }
  for (; i + 32 <= n; i += 32) {
    __m512 r0 = op(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 r1 = op(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    _mm512_storeu_ps(y + i, r0);
    _mm512_storeu_ps(y + i + 16, r1);
  }
  if (i + 16 <= n) {
    _mm512_storeu_ps(y + i, op(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    i += 16;
  }
  if (i < n) part2(a + i, b + i, y + i, n - i, op);
}

void relu_fwd(const float* x, float* y, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  // max(0, x) returns x when x is NaN (second operand); -0 stays -0 as in x < 0 ? 0 : x.
  map1(x, y, n, [zero](__m512 v) { return _mm512_max_ps(zero, v); });
}

void relu_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  // Keep g where !(y <= 0): the unordered predicate lets a NaN y pass the gradient.
  map2(gy, y, gx, n, [zero](__m512 g, __m512 v) {
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_NLE_UQ), g);
  });
}

void leaky_fwd(const float* x, float* y, int64_t n, float s) {
  const __m512 zero = _mm512_setzero_ps(), sv = _mm512_set1_ps(s);
  map1(x, y, n, [=](__m512 v) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), _mm512_mul_ps(v, sv), v);
  });
}

void leaky_bwd(const float* gy, const float* x, float* gx, int64_t n, float s) {
  const __m512 zero = _mm512_setzero_ps(), sv = _mm512_set1_ps(s);
  map2(gy, x, gx, n, [=](__m512 g, __m512 v) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), _mm512_mul_ps(g, sv), g);
  });
}

void sigmoid_fwd(const float* x, float* y, int64_t n) {
  const __m512 one = bc(1.0f), zero = _mm512_setzero_ps();
  map1(x, y, n, [=](__m512 v) {
    __m512 e = exp_ps(_mm512_sub_ps(zero, _mm512_abs_ps(v)));  // exp(-|x|) in [0, 1]
    __m512 num = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), one, e);
    return _mm512_div_ps(num, _mm512_add_ps(one, e));
  });
}

void sigmoid_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  const __m512 one = bc(1.0f);
  map2(gy, y, gx, n, [=](__m512 g, __m512 v) {
    return _mm512_mul_ps(_mm512_mul_ps(g, _mm512_sub_ps(one, v)), v);
  });
}

void tanh_fwd(const float* x, float* y, int64_t n) {
  const __m512 two = bc(2.0f), sign = bc(-0.0f);
  map1(x, y, n, [=](__m512 v) {
    __m512 t = expm1_neg_ps(_mm512_mul_ps(bc(-2.0f), _mm512_abs_ps(v)));  // in [-1, 0]
    __m512 th = _mm512_abs_ps(_mm512_div_ps(t, _mm512_add_ps(two, t)));   // tanh(|x|)
    return _mm512_or_ps(th, _mm512_and_ps(v, sign));
  });
}

void tanh_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  const __m512 one = bc(1.0f);
  map2(gy, y, gx, n, [=](__m512 g, __m512 v) {
    return _mm512_mul_ps(g, _mm512_sub_ps(one, _mm512_mul_ps(v, v)));
  });
}

void elu_fwd(const float* x, float* y, int64_t n, float alpha) {
  const __m512 zero = _mm512_setzero_ps(), av = _mm512_set1_ps(alpha);
  map1(x, y, n, [=](__m512 v) {
    __m512 neg = _mm512_mul_ps(av, expm1_neg_ps(v));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LE_OQ), v, neg);
  });
}

void elu_bwd(const float* gy, const float* x, float* gx, int64_t n, float alpha) {
  const __m512 zero = _mm512_setzero_ps(), av = _mm512_set1_ps(alpha);
  map2(gy, x, gx, n, [=](__m512 g, __m512 v) {
    __m512 neg = _mm512_mul_ps(g, _mm512_mul_ps(av, exp_ps(_mm512_min_ps(zero, v))));
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, zero, _CMP_LE_OQ), g, neg);
  });
}

void exp_fwd(const float* x, float* y, int64_t n) {
  map1(x, y, n, [](__m512 v) { return exp_ps(v); });
}

}  // namespace

const Kernels& kernels_avx512() {
  static const Kernels k{relu_fwd,  relu_bwd, leaky_fwd, leaky_bwd, sigmoid_fwd, sigmoid_bwd,
                         tanh_fwd,  tanh_bwd, elu_fwd,   elu_bwd,   exp_fwd};
  return k;
}

}  // namespace pcn::activation
