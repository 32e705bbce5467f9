// A network frozen for serving: a list of steps, each with its weights packed once for the
// kernel that runs it, run on a whole batch by one C++ call (no Python between layers).
//
// The Python side (pyconvnet/inference.py) turns a model into steps: Flatten and Dropout
// disappear (a flattened image is the same floats), BatchNorm after a convolution is folded
// into its weights, and an activation that a kernel can apply to its output tile (ReLU after a
// convolution or a fully connected layer) is fused into it.
//
// Thread safety: freeze() (done by the binding before the first run, with the GIL held) makes
// every add_* fail from then on, so a Network is immutable while it runs; run() keeps its
// activations in buffers owned by the calling thread, so many threads may run one at once.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/shapes.h"
#include "conv/conv2d_prepared.h"
#include "linear/packed_linear.h"
#include "pool/pool.h"
#include "softmax/softmax.h"

namespace pcn::infer {

// The floats of one sample: (c, h, w); a flat vector is (features, 1, 1).
struct Dims {
  int64_t c = 0, h = 1, w = 1;
  int64_t size() const { return c * h * w; }
};

// Elementwise activations a step may apply to its output.
enum class Act { none, relu, leaky_relu, sigmoid, tanh, elu };
Act parse_act(const std::string& name);
const char* act_name(Act a);
// y = act(x) over n floats (x == y allowed).
void apply_act(Act a, float param, const float* x, float* y, int64_t n);

class Step {
 public:
  virtual ~Step() = default;
  // x holds n samples of in() floats each, y receives n samples of out() floats.
  virtual void run(int64_t n, const float* x, float* y) const = 0;
  // The kernel that runs, for summary(): e.g. "conv direct avx512 + relu".
  virtual std::string kernel() const = 0;
  virtual int64_t weight_bytes() const { return 0; }
  // Whether run() may be given y == x.
  virtual bool in_place() const { return false; }
  Dims in, out;
};

class Network {
 public:
  Network(Dims input, bool bf16) : input_(input), bf16_(bf16) {}
  Dims output() const { return steps_.empty() ? input_ : steps_.back()->out; }
  Dims input() const { return input_; }
  bool bf16() const { return bf16_; }

  // Each add_* checks that the step fits the current output and appends it.
  void add_conv(const float* w, const float* bias, int64_t oc, int64_t kh, int64_t kw,
                int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                int64_t dh, int64_t dw, int64_t groups, Act act, float act_param);
  void add_linear(std::shared_ptr<const linear::PackedLinear> lin, Act act, float act_param);
  enum class PoolKind { max, avg, lp };
  void add_pool(PoolKind kind, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                int64_t pw, bool ceil_mode, bool count_include_pad, double p);
  void add_global_avg_pool();
  void add_activation(Act act, float param);
  // (c, h, w) -> (c * h * w, 1, 1): the same floats, so no work unless it is the first or
  // last step.
  void add_flatten();
  // Softmax over the channel axis of each sample (the features of a flat vector).
  void add_softmax();
  // y = x * scale[c] + shift[c] per channel (BatchNorm in eval mode with nothing to fold into).
  void add_affine(const float* scale, const float* shift);

  // y receives n samples of output().size() floats.
  void run(int64_t n, const float* x, float* y) const;
  void freeze() const {
    std::lock_guard<std::mutex> lock(build_);  // waits for an add_* in progress
    frozen_.store(true);
  }
  const std::vector<std::unique_ptr<Step>>& steps() const { return steps_; }
  // Largest activation of one sample (floats) between steps.
  int64_t max_activation() const;

 private:
  void push(std::unique_ptr<Step> s);
  void check_open() const;
  mutable std::atomic<bool> frozen_{false};
  mutable std::mutex build_;  // add_* may run without the GIL (packing)
  Dims input_;
  bool bf16_;
  std::vector<std::unique_ptr<Step>> steps_;
};

}  // namespace pcn::infer
