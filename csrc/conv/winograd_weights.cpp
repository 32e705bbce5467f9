// WinogradWeights: the filters of a layer transformed once, U = G g G^T, for either variant.
#include <algorithm>

#include "common/check.h"
#include "conv/winograd.h"

namespace pcn::conv {

namespace {

// G for F(4x4, 3x3), the points 0, 1, -1, 1/2, -2 and infinity (winograd.h): row j is
// (1, p, p^2) / N_j, N_j the product of p_j - p_l over the other finite points.
constexpr double kGF4[6][3] = {{1.0, 0, 0},
                               {1.0 / 3, 1.0 / 3, 1.0 / 3},
                               {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                               {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                               {1.0 / 15, -2.0 / 15, 4.0 / 15},
                               {0, 0, 1}};

// G for F(2x2, 3x3), the points 0, 1, -1 and infinity, the same construction. They are the
// points with the smallest transforms: B^T and A^T hold only 0 and +-1, so the input and output
// transforms are exact additions of 3 terms at most per dimension (each one rounding) and do
// not scale the values, and the only fractions (the 1/2 of N_j = +-2 for p = +-1) sit in G,
// applied here in double and exact in binary. Any other finite point p brings p^2 into A^T or
// 1/N_j with |N_j| away from a power of two into G, and more cancellation into the GEMM sums.
constexpr double kGF2[4][3] = {{1.0, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

}  // namespace

WinogradWeights::WinogradWeights(const Conv2dShape& s, const float* w, WinogradVariant variant)
    : variant_(variant), c_(s.c), k_(s.oc), kblocks_((s.oc + kWinogradRows - 1) / kWinogradRows) {
  PCN_CHECK(s.kh == 3 && s.kw == 3 && s.groups == 1 && s.c >= 1 && s.oc >= 1,
            "Winograd weights need a 3x3 kernel, one group and channels, got kernel (", s.kh,
            ", ", s.kw, "), groups ", s.groups);
  const int64_t alpha = winograd_alpha(variant), points = winograd_points(variant);
  const int64_t total = checked_mul(checked_mul(points * kblocks_, kWinogradRows,
                                                "Winograd weights"),
                                    c_, "Winograd weights");
  PCN_CHECK(total <= kMaxElements, "Winograd weights of ", total, " elements are too large");
  u_.resize(static_cast<size_t>(total));
  std::fill(u_.data(), u_.data() + total, 0.0f);
  // Applied in double, so that U carries one rounding.
  const double(*G)[3] = variant == WinogradVariant::f4x4 ? kGF4 : kGF2;
  for (int64_t k = 0; k < k_; ++k)
    for (int64_t ch = 0; ch < c_; ++ch) {
      const float* g = w + (k * c_ + ch) * 9;
      double gg[6][3];  // G g
      for (int a = 0; a < alpha; ++a)
        for (int q = 0; q < 3; ++q)
          gg[a][q] = G[a][0] * g[q] + G[a][1] * g[3 + q] + G[a][2] * g[6 + q];
      for (int a = 0; a < alpha; ++a)
        for (int b = 0; b < alpha; ++b) {
          const double val = gg[a][0] * G[b][0] + gg[a][1] * G[b][1] + gg[a][2] * G[b][2];
          float* p = u_.data() + panel_offset(a * alpha + b, k / kWinogradRows);
          p[ch * kWinogradRows + k % kWinogradRows] = static_cast<float>(val);
        }
    }
}

}  // namespace pcn::conv
