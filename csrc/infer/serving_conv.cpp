#include "infer/serving_conv.h"

#include <stdexcept>

#include "common/cpu_features.h"
#include "conv/conv_plan.h"
#include "conv/direct_conv.h"
#include "conv/direct_panels.h"

namespace pcn::infer {

namespace {

// Winograd F(4x4, 3x3) keeps 36 transformed taps per (output, input) channel pair where the
// direct path keeps 9: 9.4 MB for 256 -> 256 channels. At batch 1 a served network reads every
// layer's weights once per call, from memory rather than cache (ResNet-50 holds ~100 MB of
// them), and on a 14x14 map that read costs what Winograd saves: with the caches flushed
// before each call, 3x3 256 -> 256 at 14x14 took 1.63 ms as Winograd and 1.55 ms direct on
// one thread (1.05 and 1.12 ms with the weights in cache), while 128 -> 128 at 28x28 (2.4 MB)
// kept Winograd well ahead (1.08 against 1.28 ms). So layers whose Winograd weights pass
// kWinogradBytesAtBatch1 also keep the direct path's taps and run them for batches of up to
// kDirectBatch images, where the weights are read for few images.
constexpr int64_t kWinogradBytesAtBatch1 = 4 << 20;
constexpr int64_t kDirectBatch = 2;

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

ServingConv::ServingConv(const Conv2dShape& s, const float* w, const float* bias, bool bf16)
    : s_(s), bf16_(bf16) {
  s_.n = 1;
  auto make_direct = [&] {
    direct_ = &conv::select_direct_ukernels();
    taps_ = conv::pack_direct_taps(s_, w, *direct_);
    // 1x1 layers always by panels: their blocked sums and in-place reads are there, and
    // they take a residual into the output. DirectPanels keeps its own (padded) bias.
    const bool pointwise = s_.kh == 1 && s_.kw == 1;
    if (pointwise ||
        (ohw_small(s_) && static_cast<int64_t>(taps_.size() * sizeof(float)) >= kPanelWeightBytes))
      panels_ = std::make_unique<conv::DirectPanels>(s_, *direct_, bias);
    else if (bias)
      bias_.assign(bias, bias + s.oc);
  };
  if (!bf16) {
    // The plan's choice (conv/conv_plan.h), run by drivers for serving where they differ from
    // PreparedConv2d's: 1x1 GEMMs that can accumulate a residual (strided ones gathered
    // first: for 1x1 that gather is the im2col), and the direct path split by channel panels.
    algo_ = conv::choose_algorithm(s_, current_isa(), conv::Pass::serve_fp32);
    const bool plain = plain_geometry(s_);
    if (conv::PointwiseConv::applies(s_) &&
        (algo_ == conv::Algo::pointwise_gemm || algo_ == conv::Algo::im2col_gemm)) {
      pointwise_ = std::make_unique<conv::PointwiseConv>(s_, w, bias);
      return;
    }
    if (algo_ == conv::Algo::direct && plain) {
      make_direct();
      // 1x1 layers direct at batch 1 only run the GEMM for larger batches (the measurements
      // are at serve_direct_small_pointwise in conv/conv_plan.cpp)
      if (conv::PointwiseConv::applies(s_) && !conv::pointwise_direct_at_any_batch(s_)) {
        pointwise_ = std::make_unique<conv::PointwiseConv>(s_, w, bias);
        direct_batch_ = 1;
      }
      return;
    }
    prepared_ = std::make_unique<conv::PreparedConv2d>(s_, w, bias, bf16);
    if (algo_ == conv::Algo::winograd && plain && direct_fits(s_) &&
        prepared_->bytes() > kWinogradBytesAtBatch1) {
      make_direct();
      direct_batch_ = kDirectBatch;
    }
    return;
  }
  prepared_ = std::make_unique<conv::PreparedConv2d>(s_, w, bias, bf16);
}

bool ServingConv::can_accumulate() const {
  // every path a batch may take: the direct one by panels, the pointwise GEMM
  return (!direct_ || panels_) && !prepared_;
}

void ServingConv::forward(int64_t n, const float* x, float* y, bool relu, bool accumulate) const {
  if (accumulate && !can_accumulate())
    throw std::logic_error("ServingConv: this convolution cannot accumulate into its output");
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
  std::string gemm;
  if (pointwise_)
    gemm = std::string(conv::algo_name(s_.sh != 1 || s_.sw != 1 ? conv::Algo::im2col_gemm
                                                                 : conv::Algo::pointwise_gemm)) +
           " " + isa + (s_.sh != 1 || s_.sw != 1 ? " (1x1: strided gather, then pointwise)" : "");
  else if (prepared_)
    gemm = prepared_->algorithm();
  if (!direct_) return gemm;
  const std::string direct = "direct " + isa + (panels_ ? " (channel panels)" : "");
  if (gemm.empty()) return direct;
  return gemm + " (" + direct + " up to batch " + std::to_string(direct_batch_) + ")";
}

int64_t ServingConv::bytes() const {
  const int64_t direct = static_cast<int64_t>((taps_.size() + bias_.size()) * sizeof(float));
  return direct + (prepared_ ? prepared_->bytes() : 0) + (pointwise_ ? pointwise_->bytes() : 0);
}

}  // namespace pcn::infer
