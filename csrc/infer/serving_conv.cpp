#include "infer/serving_conv.h"

#include <stdexcept>

#include "common/check.h"
#include "common/cpu_features.h"
#include "conv/conv_plan.h"
#include "conv/direct_conv.h"
#include "conv/direct_panels.h"
#include "conv/winograd.h"

namespace pcn::infer {

namespace {

// The shapes the direct kernels were made for (the forward plan's direct rule): a layer named
// to run direct must have them.
bool direct_fits(const Conv2dShape& s) {
  return s.groups == 1 && s.c >= 4 && s.oc >= 16 && s.kh * s.kw > 1;
}

// Undilated, and no padding as wide as the kernel: the shapes the measurements here were made
// on. Others (say 'same' padding with a huge dilation) stay with PreparedConv2d, which knows
// how to skip taps that never reach the input.
bool plain_geometry(const Conv2dShape& s) {
  return s.dh == 1 && s.dw == 1 && s.pt < s.kh && s.pb < s.kh && s.pl < s.kw && s.pr < s.kw;
}

// Maps of up to 14x14 outputs with at least 512 KB of weights (half an L2) run the direct path
// split by output-channel panels (conv/direct_panels.h): split by rows, every row would read
// all the weights, from memory once they outgrow L2. Whole ResNets at batch 1, one thread, CPU
// time (the weights cold as in serving, every layer's read once per call): ResNet-18
// 16.6-17.1 ms -> 15.2 ms, ResNet-50 44.2-46.1 -> 41.8-42.0 ms with 14x14 and 7x7 maps split
// by panels; adding 28x28 maps gave 43.0-43.2 ms for ResNet-50. Smaller weights (fmnist-cnn's
// 205 KB 5x5 layer on 14x14) stay in cache either way and keep the row split.
constexpr int64_t kPanelWeightBytes = 512 * 1024;
bool ohw_small(const Conv2dShape& s) { return s.oh * s.ow <= 196; }

}  // namespace

void ServingConv::make_direct(const float* w, const float* bias) {
  direct_ = &conv::select_direct_ukernels();
  taps_ = conv::pack_direct_taps(s_, w, *direct_);
  // 1x1 layers always by panels: their blocked sums and in-place reads are there, and
  // they take a residual into the output. DirectPanels keeps its own (padded) bias.
  const bool pointwise = s_.kh == 1 && s_.kw == 1;
  if (pointwise ||
      (ohw_small(s_) && static_cast<int64_t>(taps_.size() * sizeof(float)) >= kPanelWeightBytes))
    panels_ = std::make_unique<conv::DirectPanels>(s_, *direct_, bias);
  else if (bias)
    bias_.assign(bias, bias + s_.oc);
}

void ServingConv::build(conv::Algo algo, bool named, const float* w, const float* bias) {
  // Drivers for serving where they differ from PreparedConv2d's: 1x1 GEMMs that can accumulate
  // a residual (strided ones gathered first: for 1x1 that gather is the im2col), and the
  // direct path split by channel panels.
  if (conv::PointwiseConv::applies(s_) &&
      (algo == conv::Algo::pointwise_gemm || algo == conv::Algo::im2col_gemm)) {
    pointwise_ = std::make_unique<conv::PointwiseConv>(s_, w, bias);
    return;
  }
  if (algo == conv::Algo::direct && plain_geometry(s_)) {
    make_direct(w, bias);
    // 1x1 layers direct at batch 1 only run the GEMM for larger batches (the measurements
    // are at serve_direct_small_pointwise in conv/conv_plan.cpp)
    if (conv::PointwiseConv::applies(s_) && !conv::pointwise_direct_at_any_batch(s_)) {
      pointwise_ = std::make_unique<conv::PointwiseConv>(s_, w, bias);
      direct_batch_ = 1;
    }
    return;
  }
  // Unless named, PreparedConv2d asks the plan itself, on the taps that reach the input
  // (conv/conv2d_trim.h: the same shape on the plain geometry of every named algorithm).
  prepared_ = std::make_unique<conv::PreparedConv2d>(s_, w, bias, false,
                                                     named ? std::optional<conv::Algo>(algo)
                                                           : std::nullopt);
}

ServingConv::ServingConv(const Conv2dShape& s, const float* w, const float* bias, bool bf16,
                         std::optional<conv::Algo> algo)
    : s_(s), bf16_(bf16) {
  s_.n = 1;
  if (bf16) {
    PCN_CHECK(!algo, "an algorithm can be named for float32 layers only");
    prepared_ = std::make_unique<conv::PreparedConv2d>(s_, w, bias, bf16);
    return;
  }
  if (algo) {
    using conv::Algo;
    const bool winograd = *algo == Algo::winograd || *algo == Algo::winograd_f2;
    const bool ok = plain_geometry(s_) &&
                    (winograd ? conv::winograd_applies(s_)
                     : *algo == Algo::direct ? direct_fits(s_)
                     : *algo == Algo::depthwise ? s_.groups > 1 && s_.cg() == 1
                     : *algo == Algo::pointwise_gemm ? conv::PointwiseConv::applies(s_)
                     : *algo == Algo::im2col_gemm);
    PCN_CHECK(ok, "algorithm ", conv::algo_name(*algo), " does not cover this layer");
    build(*algo, true, w, bias);
    return;
  }
  // The plan's choice (conv/conv_plan.h): one algorithm for every batch, or one for batches up
  // to small_batch and another beyond.
  const conv::ServingChoice choice = conv::choose_serving(s_, current_isa(), conv::Pass::serve_fp32);
  build(choice.large, choice.small_batch > 0, w, bias);
  if (choice.small_batch == 0 || choice.small == choice.large) return;
  small_ = std::make_unique<conv::PreparedConv2d>(s_, w, bias, false, choice.small);
  small_batch_ = choice.small_batch;
}

bool ServingConv::can_accumulate() const {
  // every path a batch may take: the direct one by panels, the pointwise GEMM
  return (!direct_ || panels_) && !prepared_ && !small_;
}

void ServingConv::forward(int64_t n, const float* x, float* y, bool relu, bool accumulate) const {
  if (accumulate && !can_accumulate())
    throw std::logic_error("ServingConv: this convolution cannot accumulate into its output");
  if (small_ && n <= small_batch_) {
    small_->forward(n, x, y, relu);
    return;
  }
  const bool direct = direct_ && (n <= direct_batch_ || (!prepared_ && !pointwise_));
  if (direct && panels_) {
    panels_->forward(n, x, taps_.data(), y, relu, accumulate);
  } else if (direct) {
    Conv2dShape s = s_;
    s.n = n;
    const float* b = bias_.empty() ? nullptr : bias_.data();
    conv::direct_conv_forward(s, *direct_, x, nullptr, b, y, relu, taps_.data());
  } else if (pointwise_) {
    pointwise_->forward(n, x, y, relu, accumulate);
  } else {
    prepared_->forward(n, x, y, relu);
  }
}

std::string ServingConv::algorithm() const {
  const std::string isa = isa_name(current_isa());
  std::string other;  // the path that is not the direct one
  if (pointwise_)
    other = std::string(conv::algo_name(s_.sh != 1 || s_.sw != 1 ? conv::Algo::im2col_gemm
                                                                  : conv::Algo::pointwise_gemm)) +
            " " + isa + (s_.sh != 1 || s_.sw != 1 ? " (1x1: strided gather, then pointwise)" : "");
  else if (prepared_)
    other = prepared_->algorithm();
  const std::string direct = direct_ ? "direct " + isa + (panels_ ? " (channel panels)" : "") : "";
  // The path of the smallest batches first (the plan's choice at batch 1).
  const auto two = [](const std::string& small, int64_t batch, const std::string& large) {
    return small + " up to batch " + std::to_string(batch) + ", " + large + " beyond";
  };
  const std::string rest = !direct_ ? other
                           : other.empty() ? direct
                                           : two(direct, direct_batch_, other);
  return small_ ? two(small_->algorithm(), small_batch_, rest) : rest;
}

int64_t ServingConv::bytes() const {
  const int64_t direct = static_cast<int64_t>((taps_.size() + bias_.size()) * sizeof(float));
  return direct + (prepared_ ? prepared_->bytes() : 0) + (pointwise_ ? pointwise_->bytes() : 0) +
         (small_ ? small_->bytes() : 0);
}

}  // namespace pcn::infer
