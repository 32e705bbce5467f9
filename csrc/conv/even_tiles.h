#pragma once
// Tiles of positions for the direct convolution's micro-kernels (portable files only: an ISA
// file must not share inline code with the portable path).

#include <cstdint>

namespace pcn::conv {

// Calls f(first, count) on ceil(len / mr) tiles covering [0, len) whose sizes differ by at
// most one. Even sizes matter: with AVX2 (mr = 6) a tile of 2 positions keeps 4
// accumulators, too few to hide the 5-cycle FMA latency (0.71x the 6-position tile's speed,
// 1 position 0.43x), while 3-5 positions run at 0.90-0.97x. So 32 columns go as
// 6+6+5+5+5+5, not 6+6+6+6+6+2.
template <class F>
void for_each_even_tile(int64_t len, int64_t mr, F&& f) {
  if (len <= 0) return;
  const int64_t tiles = (len + mr - 1) / mr, base = len / tiles, extra = len % tiles;
  for (int64_t t = 0, at = 0; t < tiles; ++t) {
    const int64_t count = base + (t < extra ? 1 : 0);
    f(at, count);
    at += count;
  }
}

}  // namespace pcn::conv
