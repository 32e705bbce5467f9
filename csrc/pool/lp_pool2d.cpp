// Power-average (LP) pooling: y = (sum over the window clipped to the input of x^p)^(1/p).
//
// Matches torch.nn.functional.lp_pool2d for windows inside the input (PyTorch rescales a
// ceil_mode overhang window by kh*kw / clipped size; we take the plain sum). Terms are
// summed in double in row-major order. Backward follows PyTorch's autograd chain:
// dx = g * x^(p-1) * S^(1/p - 1), and 0 where the window sum S is 0 (PyTorch's relu mask).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/threading.h"
#include "pool/pool.h"

namespace pcn::pool {
namespace {

struct Clip {
  int64_t y_lo, y_hi, x_lo, x_hi;
};

inline Clip clip(const Pool2dShape& s, int64_t oy, int64_t ox) {
  const int64_t hs = oy * s.sh, ws = ox * s.sw;
  return {hs, std::min<int64_t>(hs + s.kh, s.h), ws, std::min<int64_t>(ws + s.kw, s.w)};
}

inline double term(float v, double p) {
  const double d = v;
  if (p == 2.0) return d * d;
  if (p == 1.0) return d;
  return std::pow(d, p);
}

inline double window_sum(const float* xp, int64_t W, const Clip& c, double p) {
  double sum = 0.0;
  for (int64_t iy = c.y_lo; iy < c.y_hi; ++iy)
    for (int64_t ix = c.x_lo; ix < c.x_hi; ++ix) sum += term(xp[iy * W + ix], p);
  return sum;
}

inline double root(double sum, double p) {
  if (p == 1.0) return sum;
  if (p == 2.0) return std::sqrt(sum);
  return std::pow(sum, 1.0 / p);
}

}  // namespace

void lp_pool2d_forward(const float* x, float* y, const Pool2dShape& s, double p) {
  const int64_t rows = s.n * s.c * s.oh;
  if (rows <= 0 || s.ow <= 0) return;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, s.ow * s.kh * s.kw));
  parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t plane = r / s.oh, oy = r - plane * s.oh;
      const float* xp = x + plane * s.h * s.w;
      float* yr = y + r * s.ow;
      for (int64_t ox = 0; ox < s.ow; ++ox)
        yr[ox] = static_cast<float>(root(window_sum(xp, s.w, clip(s, oy, ox), p), p));
    }
  });
}

void lp_pool2d_backward(const float* x, const float* grad_y, float* dx, const Pool2dShape& s,
                        double p) {
  const int64_t planes = s.n * s.c, in_plane = s.h * s.w, out_plane = s.oh * s.ow;
  const int64_t W = s.w;
  const int64_t grain =
      std::max<int64_t>(1, 4096 / std::max<int64_t>(1, in_plane + out_plane * s.kh * s.kw));
  parallel_for(planes, grain, [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const float* xp = x + pl * in_plane;
      const float* g = grad_y + pl * out_plane;
      float* d = dx + pl * in_plane;
      std::memset(d, 0, sizeof(float) * static_cast<size_t>(in_plane));
      for (int64_t oy = 0; oy < s.oh; ++oy) {
        for (int64_t ox = 0; ox < s.ow; ++ox) {
          const Clip c = clip(s, oy, ox);
          const double sum = window_sum(xp, W, c, p);
          if (sum == 0.0) continue;
          double coef = g[oy * s.ow + ox];
          if (p == 2.0) coef /= std::sqrt(sum);
          else if (p != 1.0) coef *= std::pow(sum, 1.0 / p - 1.0);
          for (int64_t iy = c.y_lo; iy < c.y_hi; ++iy) {
            for (int64_t ix = c.x_lo; ix < c.x_hi; ++ix) {
              const double v = xp[iy * W + ix];
              const double dv = p == 2.0 ? v : (p == 1.0 ? 1.0 : std::pow(v, p - 1.0));
              d[iy * W + ix] += static_cast<float>(coef * dv);
            }
          }
        }
      }
    }
  });
}

}  // namespace pcn::pool
