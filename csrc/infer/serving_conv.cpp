#include "infer/serving_conv.h"

#include "common/cpu_features.h"
#include "conv/direct_conv.h"

namespace pcn::infer {

namespace {

bool few_channel_strided(const Conv2dShape& s) {
  return s.groups == 1 && s.c >= 2 && s.c <= 3 && s.sw > 1 && s.kh * s.kw > 1 && s.oc >= 16;
}

// 1x1 layers on maps of at most 8x8 outputs: the GEMM's 32-column tiles leave 15 of 64
// columns empty on a 7x7 map, while the direct kernel's tiles of output positions are split
// evenly (5 tiles of 9-10 positions). CPU time on one thread, batch 1: 2048->512 and
// 512->2048 at 7x7 1.08x and 1.14x, 1024->2048 stride 2 (14 -> 7) 1.38x; at 14x14 the GEMM
// stays ahead (0.96-0.98x), so only small maps go direct.
bool small_pointwise(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.groups == 1 && s.oh * s.ow <= 64 && s.oc >= 16;
}

}  // namespace

ServingConv::ServingConv(const Conv2dShape& s, const float* w, const float* bias, bool bf16)
    : s_(s), bf16_(bf16) {
  s_.n = 1;
  if (!bf16 && conv::PointwiseConv::applies(s_) && !small_pointwise(s_)) {
    pointwise_ = std::make_unique<conv::PointwiseConv>(s_, w, bias);
  } else if (few_channel_strided(s_) || small_pointwise(s_)) {
    direct_ = &conv::select_direct_ukernels();
    taps_ = conv::pack_direct_taps(s_, w, *direct_);
    if (bias) bias_.assign(bias, bias + s.oc);
  } else {
    prepared_ = std::make_unique<conv::PreparedConv2d>(s_, w, bias, bf16);
  }
}

void ServingConv::forward(int64_t n, const float* x, float* y, bool relu, bool accumulate) const {
  if (pointwise_) {
    pointwise_->forward(n, x, y, relu, accumulate);
    return;
  }
  if (direct_) {
    Conv2dShape s = s_;
    s.n = n;
    conv::direct_conv_forward(s, *direct_, x, nullptr, bias_.empty() ? nullptr : bias_.data(), y,
                              relu, taps_.data());
    return;
  }
  prepared_->forward(n, x, y, relu);
}

std::string ServingConv::algorithm() const {
  if (pointwise_) return pointwise_->algorithm();
  if (direct_) return std::string("direct ") + isa_name(current_isa());
  return prepared_->algorithm();
}

int64_t ServingConv::bytes() const {
  if (pointwise_) return pointwise_->bytes();
  if (direct_) return static_cast<int64_t>((taps_.size() + bias_.size()) * sizeof(float));
  return prepared_->bytes();
}

}  // namespace pcn::infer
