// TEMPORARY stand-in (not committed): the packed-linear branch replaces this file.
#include "linear/packed_linear.h"
#include "linear/linear.h"
#include <cstring>
namespace pcn::linear {
PackedLinear::PackedLinear(int64_t in, int64_t out, const float* w, const float* bias, Precision p)
    : in_(in), out_(out), precision_(p), w_(w, w + in * out), b_(bias ? std::vector<float>(bias, bias + out) : std::vector<float>()) {}
void PackedLinear::forward(int64_t m, const float* x, float* y, bool relu) const {
  linear_forward(m, in_, out_, x, w_.data(), b_.empty() ? nullptr : b_.data(), y, relu);
}
void PackedLinear::unpack(float* w) const { std::memcpy(w, w_.data(), w_.size() * 4); }
int64_t PackedLinear::bytes() const { return (w_.size() + b_.size()) * 4; }
std::string PackedLinear::kernel_name(int64_t) const { return "linear (temp)"; }
}
