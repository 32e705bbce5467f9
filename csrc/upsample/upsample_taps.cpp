// The source coordinates and weights of interpolation, PyTorch's rules (aten UpSample.h):
//   scale   = 1 / scale_factor when one was given, else in / out (align_corners: (in-1)/(out-1))
//   nearest = min(floor(o * scale), in - 1)            (the legacy 'nearest')
//   linear  = o * scale (align_corners), else max((o + 0.5) * scale - 0.5, 0); i0 = floor, i1 = i0 + 1
//             clamped to the input, l1 = the fraction, l0 = 1 - l1
// all in float32, as PyTorch computes them for float32 data: a float64 formula can pick another
// pixel when o * scale lands next to an integer.
#include <algorithm>
#include <cmath>

#include "upsample/upsample.h"

namespace pcn::upsample {

namespace {

float area_scale(int64_t in, int64_t out, double scale_factor) {
  if (scale_factor > 0.0) return static_cast<float>(1.0 / scale_factor);
  return static_cast<float>(in) / static_cast<float>(out);
}

}  // namespace

AxisTaps nearest_taps(int64_t in, int64_t out, double scale_factor) {
  AxisTaps t;
  t.i0.resize(out);
  const float scale = area_scale(in, out, scale_factor);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) t.i0[o] = o;
    else if (out == 2 * in) t.i0[o] = o >> 1;
    else
      t.i0[o] = std::min<int64_t>(static_cast<int64_t>(std::floor(static_cast<float>(o) * scale)), in - 1);
  }
  return t;
}

AxisTaps linear_taps(int64_t in, int64_t out, double scale_factor, bool align_corners) {
  AxisTaps t;
  t.i0.resize(out), t.i1.resize(out), t.l0.resize(out), t.l1.resize(out);
  float scale;
  if (out == in) scale = 1.0f;  // PyTorch leaves an axis of unchanged size as it is
  else if (align_corners) scale = out > 1 ? static_cast<float>(in - 1) / static_cast<float>(out - 1) : 0.0f;
  else scale = area_scale(in, out, scale_factor);
  for (int64_t o = 0; o < out; ++o) {
    const float d = static_cast<float>(o);
    const float src = align_corners ? scale * d : std::max(scale * (d + 0.5f) - 0.5f, 0.0f);
    const int64_t i0 = std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1);
    const float l1 = std::min(std::max(src - static_cast<float>(i0), 0.0f), 1.0f);
    t.i0[o] = i0;
    t.i1[o] = std::min<int64_t>(i0 + 1, in - 1);
    t.l1[o] = l1;
    t.l0[o] = 1.0f - l1;
  }
  return t;
}

}  // namespace pcn::upsample
