// Channel shuffle (torch.nn.ChannelShuffle) on NCHW float32: with C = groups * k channels,
// output channel j * groups + g is input channel g * k + j (the (N, groups, k, H, W) ->
// (N, k, groups, H, W) transpose ShuffleNet uses). Backward is the inverse permutation,
// i.e. a shuffle with groups' = k.
#pragma once
#include <cstdint>

namespace pcn::shuffle {

// y[n, j * groups + g] = x[n, g * (c / groups) + j]; c % groups == 0 (checked by the binding).
void channel_shuffle(const float* x, float* y, int64_t n, int64_t c, int64_t hw, int64_t groups);

}  // namespace pcn::shuffle
