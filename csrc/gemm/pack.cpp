#include "gemm/pack.h"

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "common/cpu_features.h"
#include "gemm/sgemm.h"

namespace pcn::gemm {

void PackedA::pack(StridedMatrix a, int64_t m, int64_t k) {
  m_ = m;
  k_ = k;
  mpad_ = (m + MR - 1) / MR * MR;
  // At most MC rows run panel at a time (sgemm.cpp): each B panel is used right after it is
  // packed, so it need not fit L1, and blocking k only adds C reloads. Up to KC_NARROW (a
  // 128 KB panel, in L2) k is one block: measured neutral on convolution shapes and +10-15% on
  // one thread where B rows are 64 KB apart (every row in the same cache sets).
  kcb_ = m <= MC ? std::max<int64_t>(1, std::min(k, KC_NARROW)) : KC;
  buf_.resize(static_cast<size_t>(std::max<int64_t>(checked_mul(mpad_, k, "GEMM operand A"), 1)));
  float* out = buf_.data();
  for (int64_t pc = 0; pc < k; pc += kcb_) {
    const int64_t kc = std::min(kcb_, k - pc);
    for (int64_t ir = 0; ir < mpad_; ir += MR) {
      float* dst = out + pc * mpad_ + ir * kc;
      const int64_t rows = std::min(MR, m - ir);
      if (a.cs == 1) {
        // Row-major A: walk MR rows side by side.
        for (int64_t i = 0; i < rows; ++i) {
          const float* src = a.p + (ir + i) * a.rs + pc;
          for (int64_t kk = 0; kk < kc; ++kk) dst[kk * MR + i] = src[kk];
        }
      } else {
        for (int64_t kk = 0; kk < kc; ++kk)
          for (int64_t i = 0; i < rows; ++i)
            dst[kk * MR + i] = a.p[(ir + i) * a.rs + (pc + kk) * a.cs];
      }
      for (int64_t i = rows; i < MR; ++i)
        for (int64_t kk = 0; kk < kc; ++kk) dst[kk * MR + i] = 0.0f;
    }
  }
}

StridedBPacker::StridedBPacker(StridedMatrix b)
    : b_(b),
      transposed_avx512_(b.rs == 1 && b.cs != 1 && current_isa() == Isa::avx512),
      aliased_rows_(b.cs == 1 && b.rs != 0 && (b.rs * sizeof(float)) % 4096 == 0) {}

int64_t StridedBPacker::panels_per_pack(int64_t kc) const {
  if (!aliased_rows_) return 1;
  // 1024 columns (4 KB of each row), fewer when kc rows of them pass 2.25 MB (a thread's
  // share of L3). 64 x 576 x 16384: +15% on one thread, +13% on two (docs/BENCHMARKS.md).
  constexpr int64_t kMaxPanels = 1024 / NR, kMaxFloats = 576 * 1024;
  return std::clamp<int64_t>(kMaxFloats / (std::max<int64_t>(kc, 1) * NR), 1, kMaxPanels);
}

void StridedBPacker::pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const {
#ifdef PCN_HAVE_AVX512
  if (transposed_avx512_) {
    pack_b_transposed_avx512(b_.p, b_.cs, k0, kc, n0, nc, dst);
    return;
  }
#endif
  if (aliased_rows_) {
    // Along each row: its nc columns are consecutive lines, which the prefetcher follows.
    for (int64_t kk = 0; kk < kc; ++kk) {
      const float* src = b_.p + (k0 + kk) * b_.rs + n0;
      for (int64_t jr = 0; jr < nc; jr += NR) {
        float* d = dst + jr * kc + kk * NR;
        const int64_t cols = std::min(NR, nc - jr);
        if (cols == NR) {
          std::memcpy(d, src + jr, NR * sizeof(float));  // constant size: two vector moves
        } else {
          std::memcpy(d, src + jr, cols * sizeof(float));
          std::fill(d + cols, d + NR, 0.0f);
        }
      }
    }
    return;
  }
  for (int64_t jr = 0; jr < nc; jr += NR) {
    float* panel = dst + jr * kc;
    const int64_t cols = std::min(NR, nc - jr);
    if (b_.cs == 1) {
      for (int64_t kk = 0; kk < kc; ++kk) {
        const float* src = b_.p + (k0 + kk) * b_.rs + n0 + jr;
        float* d = panel + kk * NR;
        // Rows of a wide B are far apart, so the hardware prefetcher does not follow them
        // from panel to panel; ask for this row's line two panels ahead (measured: +9-12%
        // on 64 x 256..576 x 6272..16384 products with 2 threads, neutral with 1).
        __builtin_prefetch(src + 2 * NR);
        if (cols == NR) {
          std::memcpy(d, src, NR * sizeof(float));
        } else {
          for (int64_t j = 0; j < cols; ++j) d[j] = src[j];
          for (int64_t j = cols; j < NR; ++j) d[j] = 0.0f;
        }
      }
    } else {
      // Transposed B (columns contiguous): read each column along k.
      int64_t j = 0;
#if defined(__SSE2__)
      if (b_.rs == 1) {
        // 4 columns x 4 k at a time through an in-register 4x4 transpose (SSE2 is part of
        // x86-64): 4 vector loads and 4 vector stores instead of 16 scalar copies.
        for (; j + 4 <= cols; j += 4) {
          const float* s0 = b_.p + (n0 + jr + j) * b_.cs + k0;
          const float* s1 = s0 + b_.cs;
          const float* s2 = s1 + b_.cs;
          const float* s3 = s2 + b_.cs;
          int64_t kk = 0;
          for (; kk + 4 <= kc; kk += 4) {
            __m128 r0 = _mm_loadu_ps(s0 + kk), r1 = _mm_loadu_ps(s1 + kk);
            __m128 r2 = _mm_loadu_ps(s2 + kk), r3 = _mm_loadu_ps(s3 + kk);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float* d = panel + kk * NR + j;
            _mm_storeu_ps(d, r0);
            _mm_storeu_ps(d + NR, r1);
            _mm_storeu_ps(d + 2 * NR, r2);
            _mm_storeu_ps(d + 3 * NR, r3);
          }
          for (; kk < kc; ++kk) {
            float* d = panel + kk * NR + j;
            d[0] = s0[kk], d[1] = s1[kk], d[2] = s2[kk], d[3] = s3[kk];
          }
        }
      }
#endif
      for (; j < cols; ++j) {
        const float* src = b_.p + (n0 + jr + j) * b_.cs + k0 * b_.rs;
        for (int64_t kk = 0; kk < kc; ++kk) panel[kk * NR + j] = src[kk * b_.rs];
      }
      for (j = cols; j < NR; ++j)
        for (int64_t kk = 0; kk < kc; ++kk) panel[kk * NR + j] = 0.0f;
    }
  }
}

}  // namespace pcn::gemm
