#include "conv/conv2d_prepared.h"

#include "conv/direct_conv.h"
#include "conv/winograd_kernels.h"

namespace pcn::conv {

PreparedConv2d::PreparedConv2d(const Conv2dShape& s, const float* w, const float* bias,
                               bool bf16, std::optional<Algo> forced)
    : s_(s), isa_(current_isa()),
      bias_(bias ? std::vector<float>(bias, bias + s.oc) : std::vector<float>()) {
  s_.n = 1;
  trim_ = trim_taps(s_);
  run_ = trim_ ? trim_->s : s_;
  if (trim_ && trim_->no_taps) return;
  std::vector<float> kept;
  if (trim_) {
    kept = trimmed_weights(s_, *trim_, w);
    w = kept.data();
  }
  const Algo algo =
      forced ? *forced : choose_algorithm(run_, isa_, bf16 ? Pass::serve_bf16 : Pass::serve_fp32);
  if (algo == Algo::bf16_dot) {
    bf16_ = std::make_unique<Bf16Conv2d>(run_, w, bias);
    return;
  }
  if (algo == Algo::winograd || algo == Algo::winograd_f2) {
    const WinogradVariant v =
        algo == Algo::winograd ? WinogradVariant::f4x4 : WinogradVariant::f2x2;
    winograd_ = std::make_unique<WinogradWeights>(run_, w, v);
    winograd_kernels_ = &select_winograd_kernels(v);
    return;
  }
  plan_ = plan_forward(algo);
  if (plan_.algo == Algo::direct) {
    taps_ = pack_direct_taps(run_, w, *plan_.direct);
  } else if (plan_.algo == Algo::depthwise) {
    w_.assign(w, w + run_.oc * run_.kdim());
  } else {
    packed_ = pack_gemm_weights(run_, w);
  }
}

void PreparedConv2d::forward(int64_t n, const float* x, float* y, bool relu) const {
  Conv2dShape full = s_;
  full.n = n;
  const float* b = bias_.empty() ? nullptr : bias_.data();
  if (trim_ && trim_->no_taps) {
    fill_bias(full, b, y, relu);
    return;
  }
  std::vector<float> kept;
  if (trim_ && trim_->crop) {
    kept = cropped_input(full, *trim_, x);
    x = kept.data();
  }
  Conv2dShape s = run_;
  s.n = n;
  if (bf16_) {
    bf16_->forward(n, x, y, relu);
    return;
  }
  if (winograd_) {
    winograd_forward(s, *winograd_kernels_, x, *winograd_, b, y, relu);
    return;
  }
  conv2d_forward_with(s, plan_, x, w_.empty() ? nullptr : w_.data(),
                      taps_.size() ? taps_.data() : nullptr, packed_.empty() ? nullptr : &packed_,
                      b, y, relu);
}

std::string PreparedConv2d::algorithm() const {
  if (trim_ && trim_->no_taps) return "bias only (no tap reaches the input)";
  const Algo algo = bf16_      ? Algo::bf16_dot
                    : !winograd_ ? plan_.algo
                    : winograd_->variant() == WinogradVariant::f4x4 ? Algo::winograd
                                                                     : Algo::winograd_f2;
  std::string name = std::string(algo_name(algo)) + " " + (bf16_ ? "avx512-bf16" : isa_name(isa_));
  if (trim_)
    name += " on the " + std::to_string(run_.kh) + "x" + std::to_string(run_.kw) + " taps that reach the input";
  return name;
}

int64_t PreparedConv2d::bytes() const {
  int64_t b = static_cast<int64_t>((w_.size() + bias_.size() + taps_.size()) * sizeof(float));
  for (const auto& p : packed_) b += p.bytes();
  if (winograd_) b += winograd_->bytes();
  if (bf16_) b += bf16_->bytes();
  return b;
}

}  // namespace pcn::conv
