#include "conv/conv2d_prepared.h"

#include "conv/direct_conv.h"

namespace pcn::conv {

PreparedConv2d::PreparedConv2d(const Conv2dShape& s, const float* w, const float* bias)
    : s_(s), algo_(choose_forward(s)), isa_(current_isa()),
      w_(w, w + s.oc * s.kdim()), bias_(bias ? std::vector<float>(bias, bias + s.oc) : std::vector<float>()) {
  s_.n = 1;
  if (winograd_applies(s_) && winograd_pays(s_)) {
    winograd_ = std::make_unique<WinogradWeights>(s_, w_.data());
    std::vector<float>().swap(w_);  // Winograd serves every tier from its own layout
    return;
  }
  if (algo_ == ForwardAlgo::direct) taps_ = pack_direct_taps(s_, w_.data());
  else if (algo_ != ForwardAlgo::depthwise) packed_ = pack_gemm_weights(s_, w_.data());
}

void PreparedConv2d::forward(int64_t n, const float* x, float* y, bool relu) const {
  Conv2dShape s = s_;
  s.n = n;
  const float* b = bias_.empty() ? nullptr : bias_.data();
  if (winograd_) {  // reads the tier on each call: its layout does not depend on it
    winograd_forward(s, x, *winograd_, b, y, relu);
    return;
  }
  if (current_isa() != isa_) {
    conv2d_forward(s, x, w_.data(), b, y, relu);
    return;
  }
  conv2d_forward_with(s, algo_, x, w_.data(), algo_ == ForwardAlgo::direct ? taps_.data() : nullptr,
                      packed_.empty() ? nullptr : &packed_, b, y, relu);
}

std::string PreparedConv2d::algorithm() const {
  if (winograd_) return std::string("winograd F(4x4,3x3) ") + isa_name(current_isa());
  return std::string(forward_algo_name(algo_)) + " " + isa_name(isa_);
}

int64_t PreparedConv2d::bytes() const {
  int64_t b = static_cast<int64_t>((w_.size() + bias_.size() + taps_.size()) * sizeof(float));
  for (const auto& p : packed_) b += p.bytes();
  if (winograd_) b += winograd_->bytes();
  return b;
}

}  // namespace pcn::conv
