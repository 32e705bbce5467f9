#include "conv/strided_gather.h"

#include <algorithm>

#include "common/threading.h"

namespace pcn::conv {

void gather_strided(const Conv2dShape& s, int64_t n, const float* x, float* g, int64_t bands) {
  const int64_t hw = s.h * s.w, ohw = s.oh * s.ow;
  // rows [r0, r1) of plane p (image * c + channel)
  auto rows = [&](int64_t p, int64_t r0, int64_t r1) {
    const float* xp = x + p * hw;
    float* gp = g + p * ohw;
    for (int64_t oy = r0; oy < r1; ++oy)
      for (int64_t ox = 0; ox < s.ow; ++ox) gp[oy * s.ow + ox] = xp[oy * s.sh * s.w + ox * s.sw];
  };
  if (bands > 1) {
    parallel_for(bands, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t c = 0; c < s.c; ++c) rows(c, band_begin(s.oh, t0, bands), band_begin(s.oh, t1, bands));
    });
    return;
  }
  parallel_for(n * s.c, std::max<int64_t>(1, 4096 / std::max<int64_t>(ohw, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) rows(p, 0, s.oh);
  });
}

}  // namespace pcn::conv
