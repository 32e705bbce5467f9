// Steps that read several nodes of a frozen network: elementwise sum (with an activation) and
// product, and concatenation along channels.
#pragma once
#include <memory>
#include <vector>

#include "infer/network.h"

namespace pcn::infer {

// y = act(x0 + x1 + ...) over n * size floats (y may be any of the xs); sums left to right.
void sum_act(int64_t count, const float* const* xs, int64_t inputs, Act act, float param,
             float* y);

std::unique_ptr<Step> make_add_step(Act act, float param);
std::unique_ptr<Step> make_multiply_step();
// parts: the dims of the inputs, in order (equal h and w).
std::unique_ptr<Step> make_concat_step(std::vector<Dims> parts);

}  // namespace pcn::infer
