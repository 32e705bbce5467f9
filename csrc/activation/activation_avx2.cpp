// AVX2/FMA element-wise activations. Everything stays in this file's anonymous namespace
// (no shared inline helpers: see docs/ARCHITECTURE.md); only kernels_avx2() is exported.
//
// exp/expm1 are computed here with a polynomial: x = n*ln2 + r, |r| <= ln2/2 (Cody-Waite split
// of ln2), e^r = 1 + r + r^2*q(r) with q of degree 4 fitted for minimax relative error
// (approximation error < 4e-9, so the result is within ~2 ulp), and 2^n applied through the
// exponent bits in two halves so that subnormal results are rounded correctly. Inputs are clamped
// with NaN-preserving min/max operand order (vminps/vmaxps return the second operand when either
// is NaN), so NaN propagates. No MXCSR state is read or changed (explicit rounding mode).
//
// The tail (n % 8 elements) runs through the same vector code via a small buffer, so every
// element gets the same result whatever its position.
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

// Range reduction shared by exp and expm1: returns n (as float) and s = e^r - 1.
inline void reduce(__m256 x, __m256& n, __m256& s) {
  n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(kLog2e)),
                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  __m256 q = _mm256_fmadd_ps(_mm256_set1_ps(kC4), r, _mm256_set1_ps(kC3));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(kC2));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(kC1));
  q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(kC0));
  s = _mm256_fmadd_ps(q, _mm256_mul_ps(r, r), r);
}

// 2^k for integer lanes k in [-126, 127].
inline __m256 pow2i(__m256i k) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

// exp(x) for all x: overflow gives +inf, deep underflow 0, subnormal results rounded once.
inline __m256 exp_ps(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-110.0f), _mm256_min_ps(_mm256_set1_ps(89.0f), x));
  __m256 n, s;
  reduce(x, n, s);
  __m256 p = _mm256_add_ps(s, _mm256_set1_ps(1.0f));
  __m256i ni = _mm256_cvtps_epi32(n);                 // n in [-159, 128]
  __m256i n1 = _mm256_srai_epi32(ni, 1);              // [-80, 64]
  __m256i n2 = _mm256_sub_epi32(ni, n1);              // [-79, 64]
  return _mm256_mul_ps(_mm256_mul_ps(p, pow2i(n1)), pow2i(n2));
}

// expm1(x) for x <= 0 (larger x is treated as 0): 2^n * s + (2^n - 1), with no cancellation
// when n == 0, so the relative accuracy holds near 0. x < -88 gives -1.
// For |x| < 2^-25 the result is x itself (correctly rounded, keeps the sign of -0 and
// subnormals exact).
inline __m256 expm1_neg_ps(__m256 x) {
  __m256 tiny = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x),
                              _mm256_set1_ps(0x1p-25f), _CMP_LT_OQ);
  __m256 xc = _mm256_max_ps(_mm256_set1_ps(-88.0f), _mm256_min_ps(_mm256_setzero_ps(), x));
  __m256 n, s;
  reduce(xc, n, s);
  __m256 t = pow2i(_mm256_cvtps_epi32(n));           // n in [-127, 0]; 2^-127 encodes as 0
  __m256 r = _mm256_fmadd_ps(t, s, _mm256_sub_ps(t, _mm256_set1_ps(1.0f)));
  return _mm256_blendv_ps(r, x, tiny);
}

inline __m256 abs_ps(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }

// Calls writing at least this many floats (4 MB per thread) use non-temporal stores: such an
// output cannot stay in the caches anyway, and streaming it skips the read-for-ownership of
// every output line, a third of the memory traffic of relu (measured: relu on 16 MB,
// 2.4 -> 3.0 G elements/s with 2 threads).
constexpr int64_t kStreamMin = int64_t(1) << 20;

// Floats before y + i is 32-byte aligned (float arrays are at least 4-byte aligned).
inline int64_t head_to_align(const float* y) {
  return static_cast<int64_t>((32 - (reinterpret_cast<uintptr_t>(y) & 31)) & 31) / 4;
}

template <class Op>
void map1(const float* a, float* y, int64_t n, Op op);

// The aligned body of a large call with streaming stores; head and tail via map1.
template <class Op>
void map1_stream(const float* a, float* y, int64_t n, Op op) {
  const int64_t h = head_to_align(y);
  map1(a, y, h, op);
  int64_t i = h;
  for (; i + 16 <= n; i += 16) {
    _mm256_stream_ps(y + i, op(_mm256_loadu_ps(a + i)));
    _mm256_stream_ps(y + i + 8, op(_mm256_loadu_ps(a + i + 8)));
  }
  _mm_sfence();  // the streamed lines are visible before the caller reads y
  map1(a + i, y + i, n - i, op);
}

// Applies op to 8-lane blocks; the tail goes through a zero-padded buffer.
template <class Op>
void map1(const float* a, float* y, int64_t n, Op op) {
  if (n >= kStreamMin) {
    map1_stream(a, y, n, op);
    return;
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 r0 = op(_mm256_loadu_ps(a + i));
    __m256 r1 = op(_mm256_loadu_ps(a + i + 8));
    _mm256_storeu_ps(y + i, r0);
    _mm256_storeu_ps(y + i + 8, r1);
  }
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, op(_mm256_loadu_ps(a + i)));
  if (i < n) {
    alignas(32) float ba[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    alignas(32) float by[8];
    int64_t m = n - i;
    for (int64_t j = 0; j < m; ++j) ba[j] = a[i + j];
    _mm256_store_ps(by, op(_mm256_load_ps(ba)));
    for (int64_t j = 0; j < m; ++j) y[i + j] = by[j];
  }
}

template <class Op>
void map2(const float* a, const float* b, float* y, int64_t n, Op op);

template <class Op>
void map2_stream(const float* a, const float* b, float* y, int64_t n, Op op) {
  const int64_t h = head_to_align(y);
  map2(a, b, y, h, op);
  int64_t i = h;
  for (; i + 16 <= n; i += 16) {
    _mm256_stream_ps(y + i, op(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    _mm256_stream_ps(y + i + 8, op(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8)));
  }
  _mm_sfence();
  map2(a + i, b + i, y + i, n - i, op);
}

template <class Op>
void map2(const float* a, const float* b, float* y, int64_t n, Op op) {
  if (n >= kStreamMin) {
    map2_stream(a, b, y, n, op);
    return;
  }
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 r0 = op(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 r1 = op(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    _mm256_storeu_ps(y + i, r0);
    _mm256_storeu_ps(y + i + 8, r1);
  }
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, op(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
  if (i < n) {
    alignas(32) float ba[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    alignas(32) float bb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    alignas(32) float by[8];
    int64_t m = n - i;
    for (int64_t j = 0; j < m; ++j) {
      ba[j] = a[i + j];
      bb[j] = b[i + j];
    }
    _mm256_store_ps(by, op(_mm256_load_ps(ba), _mm256_load_ps(bb)));
    for (int64_t j = 0; j < m; ++j) y[i + j] = by[j];
  }
}

void relu_fwd(const float* x, float* y, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  // max(0, x) returns x when x is NaN (second operand); -0 stays -0 as in x < 0 ? 0 : x.
  map1(x, y, n, [zero](__m256 v) { return _mm256_max_ps(zero, v); });
}

void relu_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  const __m256 zero = _mm256_setzero_ps();
  map2(gy, y, gx, n, [zero](__m256 g, __m256 v) {
    return _mm256_andnot_ps(_mm256_cmp_ps(v, zero, _CMP_LE_OQ), g);
  });
}

void leaky_fwd(const float* x, float* y, int64_t n, float s) {
  const __m256 zero = _mm256_setzero_ps(), sv = _mm256_set1_ps(s);
  map1(x, y, n, [=](__m256 v) {
    return _mm256_blendv_ps(_mm256_mul_ps(v, sv), v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
  });
}

void leaky_bwd(const float* gy, const float* x, float* gx, int64_t n, float s) {
  const __m256 zero = _mm256_setzero_ps(), sv = _mm256_set1_ps(s);
  map2(gy, x, gx, n, [=](__m256 g, __m256 v) {
    return _mm256_blendv_ps(_mm256_mul_ps(g, sv), g, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
  });
}

void sigmoid_fwd(const float* x, float* y, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
  map1(x, y, n, [=](__m256 v) {
    __m256 e = exp_ps(_mm256_sub_ps(zero, abs_ps(v)));  // exp(-|x|) in [0, 1]
    __m256 num = _mm256_blendv_ps(one, e, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    return _mm256_div_ps(num, _mm256_add_ps(one, e));
  });
}

void sigmoid_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  map2(gy, y, gx, n, [=](__m256 g, __m256 v) {
    return _mm256_mul_ps(_mm256_mul_ps(g, _mm256_sub_ps(one, v)), v);
  });
}

void tanh_fwd(const float* x, float* y, int64_t n) {
  const __m256 two = _mm256_set1_ps(2.0f), sign = _mm256_set1_ps(-0.0f);
  map1(x, y, n, [=](__m256 v) {
    __m256 a = abs_ps(v);
    __m256 t = expm1_neg_ps(_mm256_mul_ps(_mm256_set1_ps(-2.0f), a));  // in [-1, 0]
    __m256 th = abs_ps(_mm256_div_ps(t, _mm256_add_ps(two, t)));       // tanh(|x|)
    return _mm256_or_ps(th, _mm256_and_ps(v, sign));
  });
}

void tanh_bwd(const float* gy, const float* y, float* gx, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  map2(gy, y, gx, n, [=](__m256 g, __m256 v) {
    return _mm256_mul_ps(g, _mm256_sub_ps(one, _mm256_mul_ps(v, v)));
  });
}

void elu_fwd(const float* x, float* y, int64_t n, float alpha) {
  const __m256 zero = _mm256_setzero_ps(), av = _mm256_set1_ps(alpha);
  map1(x, y, n, [=](__m256 v) {
    __m256 neg = _mm256_mul_ps(av, expm1_neg_ps(v));
    return _mm256_blendv_ps(v, neg, _mm256_cmp_ps(v, zero, _CMP_LE_OQ));
  });
}

void elu_bwd(const float* gy, const float* x, float* gx, int64_t n, float alpha) {
  const __m256 zero = _mm256_setzero_ps(), av = _mm256_set1_ps(alpha);
  map2(gy, x, gx, n, [=](__m256 g, __m256 v) {
    __m256 neg = _mm256_mul_ps(g, _mm256_mul_ps(av, exp_ps(_mm256_min_ps(zero, v))));
    return _mm256_blendv_ps(g, neg, _mm256_cmp_ps(v, zero, _CMP_LE_OQ));
  });
}

void exp_fwd(const float* x, float* y, int64_t n) {
  map1(x, y, n, [](__m256 v) { return exp_ps(v); });
}

}  // namespace

const Kernels& kernels_avx2() {
  static const Kernels k{relu_fwd,  relu_bwd, leaky_fwd, leaky_bwd, sigmoid_fwd, sigmoid_bwd,
                         tanh_fwd,  tanh_bwd, elu_fwd,   elu_bwd,   exp_fwd};
  return k;
}

}  // namespace pcn::activation
