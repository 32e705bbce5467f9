#include "infer/serving_conv.h"

#include "common/cpu_features.h"
#include "conv/direct_conv.h"

namespace pcn::infer {

namespace {

bool few_channel_strided(const Conv2dShape& s) {
  return s.groups == 1 && s.c >= 2 && s.c <= 3 && s.sw > 1 && s.kh * s.kw > 1 && s.oc >= 16;
}

}  // namespace

ServingConv::ServingConv(const Conv2dShape& s, const float* w, const float* bias, bool bf16)
    : s_(s), bf16_(bf16) {
  s_.n = 1;
  if (!bf16 && conv::PointwiseConv::applies(s_)) {
    pointwise_ = std::make_unique<conv::PointwiseConv>(s_, w, bias);
  } else if (few_channel_strided(s_)) {
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
  if (direct_) return std::string("direct ") + isa_name(current_isa()) + " (few channels, strided)";
  return prepared_->algorithm();
}

int64_t ServingConv::bytes() const {
  if (pointwise_) return pointwise_->bytes();
  if (direct_) return static_cast<int64_t>((taps_.size() + bias_.size()) * sizeof(float));
  return prepared_->bytes();
}

}  // namespace pcn::infer
