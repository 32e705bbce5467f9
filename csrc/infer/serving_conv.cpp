#include "infer/serving_conv.h"

#include "common/cpu_features.h"
#include "conv/direct_conv.h"
#include "conv/direct_panels.h"

namespace pcn::infer {

namespace {

bool few_channel_strided(const Conv2dShape& s) {
  return s.groups == 1 && s.c >= 2 && s.c <= 3 && s.sw > 1 && s.kh * s.kw > 1 && s.oc >= 16;
}

// 1x1 layers on small maps run the direct kernels split by channel panels (ohw_small): the
// GEMM's 32-column tiles leave 15 of 64 columns empty on a 7x7 map and 28 of 224 on 14x14,
// while the direct kernel's tiles of output positions are split evenly. One thread, batch 1:
// 2048->512 and 512->2048 at 7x7 1.08x and 1.14x, 1024->2048 stride 2 (14 -> 7) 1.38x with
// the weights in cache; on 14x14 maps with the caches flushed first (as every layer of a
// served network meets them) 1024->256 and 256->1024 1.08x and 1.08x, but 512->1024 stride 2
// (28 -> 14) 0.89x, so strided layers go direct only on 8x8 maps and smaller. Whole
// ResNet-50: 41.4-42.6 ms of CPU time with 7x7 maps direct, 40.1-41.7 ms with 14x14 too.
bool small_pointwise(const Conv2dShape& s) {
  if (s.kh != 1 || s.kw != 1 || s.groups != 1 || s.oc < 16) return false;
  const bool strided = s.sh != 1 || s.sw != 1;
  return s.oh * s.ow <= (strided ? 64 : 196);
}

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

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Maps of up to 14x14 outputs run the direct path split by output-channel panels
// (conv/direct_panels.h). Whole ResNets at batch 1, one thread, CPU time (the weights cold
// as in serving, every layer's read once per call): ResNet-18 16.6-17.1 ms -> 15.2 ms,
// ResNet-50 44.2-46.1 -> 41.8-42.0 ms with 14x14 and 7x7 maps split by panels; adding 28x28
// maps gave 43.0-43.2 ms for ResNet-50.
bool ohw_small(const Conv2dShape& s) { return s.oh * s.ow <= 196; }

}  // namespace

ServingConv::ServingConv(const Conv2dShape& s, const float* w, const float* bias, bool bf16)
    : s_(s), bf16_(bf16) {
  s_.n = 1;
  const bool plain = plain_geometry(s_);
  auto make_direct = [&] {
    direct_ = &conv::select_direct_ukernels();
    taps_ = conv::pack_direct_taps(s_, w, *direct_);
    if (bias) bias_.assign(bias, bias + s.oc);
  };
  if (!bf16 && conv::PointwiseConv::applies(s_) && !small_pointwise(s_)) {
    pointwise_ = std::make_unique<conv::PointwiseConv>(s_, w, bias);
    return;
  }
  if (plain && (few_channel_strided(s_) || small_pointwise(s_))) {
    make_direct();
    return;
  }
  prepared_ = std::make_unique<conv::PreparedConv2d>(s_, w, bias, bf16);
  if (bf16 || !plain || !direct_fits(s_)) return;
  const std::string algo = prepared_->algorithm();
  if (starts_with(algo, "direct ") && ohw_small(s_)) {
    // the same kernels and taps, split by channel panels
    make_direct();
    prepared_.reset();
  } else if (starts_with(algo, "winograd") && prepared_->bytes() > kWinogradBytesAtBatch1) {
    make_direct();
    direct_batch_ = kDirectBatch;
  }
}

void ServingConv::forward(int64_t n, const float* x, float* y, bool relu, bool accumulate) const {
  if (pointwise_) {
    pointwise_->forward(n, x, y, relu, accumulate);
    return;
  }
  if (direct_ && (!prepared_ || n <= direct_batch_)) {
    Conv2dShape s = s_;
    s.n = n;
    const float* b = bias_.empty() ? nullptr : bias_.data();
    if (ohw_small(s))
      conv::direct_conv_forward_panels(s, *direct_, x, taps_.data(), b, y, relu);
    else
      conv::direct_conv_forward(s, *direct_, x, nullptr, b, y, relu, taps_.data());
    return;
  }
  prepared_->forward(n, x, y, relu);
}

std::string ServingConv::algorithm() const {
  if (pointwise_) return pointwise_->algorithm();
  const std::string direct = std::string("direct ") + isa_name(current_isa()) +
                             (ohw_small(s_) ? " (channel panels)" : "");
  if (direct_ && prepared_)
    return direct + " up to batch " + std::to_string(direct_batch_) + ", " +
           prepared_->algorithm() + " above";
  if (direct_) return direct;
  return prepared_->algorithm();
}

int64_t ServingConv::bytes() const {
  if (pointwise_) return pointwise_->bytes();
  const int64_t direct = static_cast<int64_t>((taps_.size() + bias_.size()) * sizeof(float));
  return direct + (prepared_ ? prepared_->bytes() : 0);
}

}  // namespace pcn::infer
