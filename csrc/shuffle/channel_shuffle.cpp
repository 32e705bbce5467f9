// Plane copies in parallel over (image, output channel): every output plane is written by one
// thread, so results are the same for any thread count.
#include "shuffle/channel_shuffle.h"

#include <algorithm>
#include <cstring>

#include "common/threading.h"

namespace pcn::shuffle {

void channel_shuffle(const float* x, float* y, int64_t n, int64_t c, int64_t hw, int64_t groups) {
  if (n <= 0 || c <= 0 || hw <= 0) return;
  const int64_t k = c / groups;
  const int64_t grain = std::max<int64_t>(1, 16384 / hw);
  parallel_for(n * c, grain, [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const int64_t img = plane / c, out_c = plane % c;
      const int64_t j = out_c / groups, g = out_c % groups;
      const float* src = x + (img * c + g * k + j) * hw;
      std::memcpy(y + plane * hw, src, static_cast<size_t>(hw) * sizeof(float));
    }
  });
}

}  // namespace pcn::shuffle
