// BatchNorm2d: two-pass double statistics per channel, element-wise work in double. The
// per-channel driver is shared by the tiers; the plane kernels come from the tier's table.
#include "norm/batch_norm2d.h"

#include <algorithm>
#include <cmath>

#include "common/cpu_features.h"
#include "common/threading.h"

namespace pcn::norm {
namespace {

inline int64_t channel_grain(const BatchNormShape& s) {
  return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.n * s.hw));
}

// Sum of x over one plane (four chains: a term's chain depends only on its position).
double plane_sum(const float* p, int64_t hw) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  int64_t i = 0;
  for (; i + 4 <= hw; i += 4) {
    a0 += p[i];
    a1 += p[i + 1];
    a2 += p[i + 2];
    a3 += p[i + 3];
  }
  for (; i < hw; ++i) a0 += p[i];
  return (a0 + a1) + (a2 + a3);
}

double plane_sq_dev(const float* p, int64_t hw, double mean) {
  double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0;
  int64_t i = 0;
  for (; i + 4 <= hw; i += 4) {
    const double d0 = p[i] - mean, d1 = p[i + 1] - mean, d2 = p[i + 2] - mean,
                 d3 = p[i + 3] - mean;
    a0 += d0 * d0;
    a1 += d1 * d1;
    a2 += d2 * d2;
    a3 += d3 * d3;
  }
  for (; i < hw; ++i) {
    const double d = p[i] - mean;
    a0 += d * d;
  }
  return (a0 + a1) + (a2 + a3);
}

void plane_affine(const float* p, float* q, int64_t hw, double mean, double scale,
                         double shift) {
  for (int64_t i = 0; i < hw; ++i)
    q[i] = static_cast<float>((static_cast<double>(p[i]) - mean) * scale + shift);
}

// Sums of g and of g * (x - mean) over one plane (two chains each).
void plane_grad_sums(const float* xp, const float* gp, int64_t hw, double m, double& gsum,
                     double& dot) {
  double g0 = 0.0, g1 = 0.0, d0 = 0.0, d1 = 0.0;
  int64_t i = 0;
  for (; i + 2 <= hw; i += 2) {
    g0 += gp[i];
    g1 += gp[i + 1];
    d0 += static_cast<double>(gp[i]) * (static_cast<double>(xp[i]) - m);
    d1 += static_cast<double>(gp[i + 1]) * (static_cast<double>(xp[i + 1]) - m);
  }
  for (; i < hw; ++i) {
    g0 += gp[i];
    d0 += static_cast<double>(gp[i]) * (static_cast<double>(xp[i]) - m);
  }
  gsum = g0 + g1;
  dot = d0 + d1;
}

void plane_dx(const float* xp, const float* gp, float* dp, int64_t hw, double m, double gmean,
              double k, double scale) {
  for (int64_t i = 0; i < hw; ++i) {
    const double xc = static_cast<double>(xp[i]) - m;
    dp[i] = static_cast<float>((static_cast<double>(gp[i]) - gmean - xc * k) * scale);
  }
}

constexpr PlaneKernels kRef = {&plane_sum, &plane_sq_dev, &plane_affine, &plane_grad_sums,
                               &plane_dx};

const PlaneKernels& kernels() {
#ifdef PCN_HAVE_AVX512
  if (current_isa() == Isa::avx512) return plane_kernels_avx512();
#endif
  return kRef;
}

}  // namespace

const PlaneKernels& plane_kernels_ref() { return kRef; }

void batch_norm2d_forward_train(const float* x, const float* weight, const float* bias, float* y,
                                float* mean, float* invstd, float* var_unbiased,
                                const BatchNormShape& s, double eps) {
  const int64_t count = s.n * s.hw, cstride = s.c * s.hw;
  const PlaneKernels& K = kernels();
  parallel_for(s.c, channel_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const float* xc = x + c * s.hw;
      double sum = 0.0;
      for (int64_t n = 0; n < s.n; ++n) sum += K.sum(xc + n * cstride, s.hw);
      const double m = count > 0 ? sum / static_cast<double>(count) : 0.0;
      double sq = 0.0;
      for (int64_t n = 0; n < s.n; ++n) sq += K.sq_dev(xc + n * cstride, s.hw, m);
      const double var = count > 0 ? sq / static_cast<double>(count) : 0.0;
      const double inv = 1.0 / std::sqrt(var + eps);
      mean[c] = static_cast<float>(m);
      invstd[c] = static_cast<float>(inv);
      var_unbiased[c] = count > 1 ? static_cast<float>(sq / static_cast<double>(count - 1))
                                  : static_cast<float>(NAN);
      const double scale = inv * (weight ? static_cast<double>(weight[c]) : 1.0);
      const double shift = bias ? static_cast<double>(bias[c]) : 0.0;
      for (int64_t n = 0; n < s.n; ++n)
        K.affine(xc + n * cstride, y + c * s.hw + n * cstride, s.hw, m, scale, shift);
    }
  });
}

void batch_norm2d_forward_eval(const float* x, const float* weight, const float* bias,
                               const float* running_mean, const float* running_var, float* y,
                               const BatchNormShape& s, double eps) {
  const int64_t cstride = s.c * s.hw;
  const PlaneKernels& K = kernels();
  parallel_for(s.c, channel_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const double m = running_mean[c];
      const double scale = (weight ? static_cast<double>(weight[c]) : 1.0) /
                           std::sqrt(static_cast<double>(running_var[c]) + eps);
      const double shift = bias ? static_cast<double>(bias[c]) : 0.0;
      for (int64_t n = 0; n < s.n; ++n)
        K.affine(x + c * s.hw + n * cstride, y + c * s.hw + n * cstride, s.hw, m, scale, shift);
    }
  });
}

void batch_norm2d_backward(const float* x, const float* grad_y, const float* weight,
                           const float* mean, const float* invstd, float* dx, float* dweight,
                           float* dbias, const BatchNormShape& s) {
  const int64_t count = s.n * s.hw, cstride = s.c * s.hw;
  const PlaneKernels& K = kernels();
  parallel_for(s.c, channel_grain(s), [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      const double m = mean[c], inv = invstd[c];
      double gsum = 0.0, dot = 0.0;
      for (int64_t n = 0; n < s.n; ++n) {
        double g = 0.0, d = 0.0;
        K.grad_sums(x + c * s.hw + n * cstride, grad_y + c * s.hw + n * cstride, s.hw, m, g, d);
        gsum += g;
        dot += d;
      }
      dbias[c] = static_cast<float>(gsum);
      dweight[c] = static_cast<float>(dot * inv);
      if (count == 0) continue;
      const double w = weight ? static_cast<double>(weight[c]) : 1.0;
      const double gmean = gsum / static_cast<double>(count);
      const double k = dot * inv * inv / static_cast<double>(count);
      const double scale = inv * w;
      for (int64_t n = 0; n < s.n; ++n)
        K.dx(x + c * s.hw + n * cstride, grad_y + c * s.hw + n * cstride,
             dx + c * s.hw + n * cstride, s.hw, m, gmean, k, scale);
    }
  });
}

}  // namespace pcn::norm
