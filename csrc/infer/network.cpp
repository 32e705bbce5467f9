#include "infer/network.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>

#include "activation/activation.h"
#include "common/aligned_buffer.h"
#include "common/bf16.h"
#include "common/check.h"
#include "common/shape_checks.h"
#include "common/threading.h"
#include "infer/merge_steps.h"
#include "infer/serving_conv.h"
#include "infer/slots.h"

namespace pcn::infer {

Act parse_act(const std::string& name) {
  if (name == "none") return Act::none;
  if (name == "relu") return Act::relu;
  if (name == "leaky_relu") return Act::leaky_relu;
  if (name == "sigmoid") return Act::sigmoid;
  if (name == "tanh") return Act::tanh;
  if (name == "elu") return Act::elu;
  PCN_CHECK(false, "activation must be one of none, relu, leaky_relu, sigmoid, tanh, elu; got '",
            name, "'");
  return Act::none;
}

const char* act_name(Act a) {
  switch (a) {
    case Act::none: return "none";
    case Act::relu: return "relu";
    case Act::leaky_relu: return "leaky_relu";
    case Act::sigmoid: return "sigmoid";
    case Act::tanh: return "tanh";
    case Act::elu: return "elu";
  }
  return "?";
}

void apply_act(Act a, float param, const float* x, float* y, int64_t n) {
  switch (a) {
    case Act::none:
      if (x != y) std::copy(x, x + n, y);
      return;
    case Act::relu: activation::relu_forward(x, y, n); return;
    case Act::leaky_relu: activation::leaky_relu_forward(x, y, n, param); return;
    case Act::sigmoid: activation::sigmoid_forward(x, y, n); return;
    case Act::tanh: activation::tanh_forward(x, y, n); return;
    case Act::elu: activation::elu_forward(x, y, n, param); return;
  }
}

namespace {

std::string with_act(std::string kernel, Act act) {
  if (act != Act::none) kernel += std::string(" + ") + act_name(act);
  return kernel;
}

// bfloat16 inputs for a step (precision "bf16"): x rounded to the nearest bfloat16, in a
// buffer of the calling thread.
const float* rounded_input(const float* x, int64_t count) {
  thread_local AlignedBuffer buf;
  buf.resize(static_cast<size_t>(count));
  round_to_bf16(x, buf.data(), count);  // splits the work across threads itself
  return buf.data();
}

// A convolution, its activation, and optionally a residual added before the activation
// (ResNet's relu(conv(x) + shortcut)): where the kernel can accumulate (PointwiseConv), y
// holds the residual and the GEMM's epilogue adds the product to it; elsewhere the residual
// is added in one pass after the convolution.
class ConvStep final : public Step {
 public:
  ConvStep(const Conv2dShape& s, const float* w, const float* bias, Act act, float param,
           bool bf16, std::optional<conv::Algo> algo)
      : conv_(s, w, bias, bf16, algo), act_(act), param_(param) {}
  Act act() const { return act_; }
  bool has_residual() const { return residual_; }
  // Adds the second input to the output before the activation.
  void set_residual(Act act, float param) {
    residual_ = true;
    act_ = act;
    param_ = param;
  }
  void run(int64_t n, const float* x, float* y) const override { run_many(n, &x, y); }
  void run_many(int64_t n, const float* const* xs, float* y) const override {
    const float* x = xs[0];
    const int64_t count = n * out.size();
    const bool relu = act_ == Act::relu;
    // The weights were rounded when the model was frozen. Products of two bfloat16 values are
    // exact in float32, so the direct and GEMM kernels accumulate exact bfloat16 products in
    // float32; Winograd transforms the rounded values in float32 first (within its usual
    // few 1e-6 of the output scale). The bfloat16 kernel rounds x itself.
    if (conv_.needs_rounded_input()) x = rounded_input(x, n * in.size());
    if (residual_ && conv_.can_accumulate()) {
      if (xs[1] != y) copy_parallel(xs[1], y, count);
      conv_.forward(n, x, y, relu, true);
    } else if (residual_) {
      conv_.forward(n, x, y, false);
      const float* sum[2] = {y, xs[1]};
      sum_act(count, sum, 2, act_, param_, y);
      return;
    } else {
      conv_.forward(n, x, y, relu);
    }
    if (!relu && act_ != Act::none) apply_act(act_, param_, y, y, count);
  }
  // An accumulating kernel may be given y == the residual.
  int accumulates_into() const override { return residual_ && conv_.can_accumulate() ? 1 : -1; }
  std::string kernel() const override {
    std::string k = "conv " + conv_.algorithm();
    if (conv_.needs_rounded_input()) k += " (bf16 inputs, fp32 kernel)";
    if (residual_) k += conv_.can_accumulate() ? " + add (in the epilogue)" : " + add";
    return with_act(k, act_) +
           (act_ == Act::relu || act_ == Act::none || residual_ ? "" : " (separate pass)");
  }
  int64_t weight_bytes() const override { return conv_.bytes(); }

 private:
  static void copy_parallel(const float* x, float* y, int64_t count) {
    parallel_for((count + 4095) / 4096, 1, [&](int64_t c0, int64_t c1) {
      const int64_t i0 = c0 * 4096, i1 = std::min(count, c1 * 4096);
      std::copy(x + i0, x + i1, y + i0);
    });
  }
  ServingConv conv_;
  Act act_;
  float param_;
  bool residual_ = false;
};

class LinearStep final : public Step {
 public:
  LinearStep(std::shared_ptr<const linear::PackedLinear> lin, Act act, float param)
      : lin_(std::move(lin)), act_(act), param_(param) {}
  void run(int64_t n, const float* x, float* y) const override {
    lin_->forward(n, x, y, act_ == Act::relu);
    if (act_ != Act::relu && act_ != Act::none) apply_act(act_, param_, y, y, n * out.size());
  }
  std::string kernel() const override {
    const std::string one = lin_->kernel_name(1), many = lin_->kernel_name(64);
    return with_act(one == many ? one : one + " at batch 1, " + many + " at 64", act_);
  }
  int64_t weight_bytes() const override { return lin_->bytes(); }

 private:
  std::shared_ptr<const linear::PackedLinear> lin_;
  Act act_;
  float param_;
};

class PoolStep final : public Step {
 public:
  PoolStep(const Pool2dShape& s, Network::PoolKind kind, bool count_include_pad, double p)
      : s_(s), kind_(kind), count_include_pad_(count_include_pad), p_(p) {}
  void run(int64_t n, const float* x, float* y) const override {
    Pool2dShape s = s_;
    s.n = n;
    switch (kind_) {
      case Network::PoolKind::max: pool::max_pool2d_forward(x, y, nullptr, s); return;
      case Network::PoolKind::avg: pool::avg_pool2d_forward(x, y, s, count_include_pad_); return;
      case Network::PoolKind::lp: pool::lp_pool2d_forward(x, y, s, p_); return;
    }
  }
  std::string kernel() const override {
    switch (kind_) {
      case Network::PoolKind::max: return "max pool";
      case Network::PoolKind::avg: return "avg pool";
      case Network::PoolKind::lp: return "lp pool";
    }
    return "?";
  }

 private:
  Pool2dShape s_;
  Network::PoolKind kind_;
  bool count_include_pad_;
  double p_;
};

// A convolution (with its activation) and the pooling that follows it, run a few images at a
// time: each group's convolution output goes to a buffer of the calling thread small enough
// to stay in L2, and is pooled from there, so the full-size activation between the two never
// travels through memory.
class ConvPoolStep final : public Step {
 public:
  ConvPoolStep(std::unique_ptr<Step> conv, std::unique_ptr<Step> pool)
      : conv_(std::move(conv)), pool_(std::move(pool)) {
    in = conv_->in;
    out = pool_->out;
  }
  void run(int64_t n, const float* x, float* y) const override {
    const int64_t mid = conv_->out.size();
    // About 512 KB of convolution output per group (a quarter of a 2 MB L2), at least 1 image.
    const int64_t group = std::max<int64_t>(1, (512 * 1024 / 4) / std::max<int64_t>(mid, 1));
    thread_local AlignedBuffer buf;
    buf.resize(static_cast<size_t>(std::min(group, n) * mid));
    for (int64_t b = 0; b < n; b += group) {
      const int64_t g = std::min(group, n - b);
      conv_->run(g, x + b * in.size(), buf.data());
      pool_->run(g, buf.data(), y + b * out.size());
    }
  }
  std::string kernel() const override {
    return conv_->kernel() + " + " + pool_->kernel() + " (fused)";
  }
  int64_t weight_bytes() const override { return conv_->weight_bytes(); }

 private:
  std::unique_ptr<Step> conv_, pool_;
};

class GlobalAvgPoolStep final : public Step {
 public:
  void run(int64_t n, const float* x, float* y) const override {
    pool::global_avg_pool2d_forward(x, y, n * in.c, in.h * in.w);
  }
  std::string kernel() const override { return "global avg pool"; }
};

class ActStep final : public Step {
 public:
  ActStep(Act act, float param) : act_(act), param_(param) {}
  void run(int64_t n, const float* x, float* y) const override {
    apply_act(act_, param_, x, y, n * in.size());
  }
  std::string kernel() const override { return act_name(act_); }
  bool in_place() const override { return true; }

 private:
  Act act_;
  float param_;
};

class FlattenStep final : public Step {
 public:
  void run(int64_t n, const float* x, float* y) const override {
    if (x != y) std::copy(x, x + n * in.size(), y);
  }
  std::string kernel() const override { return "none (a view)"; }
  bool in_place() const override { return true; }
};

class SoftmaxStep final : public Step {
 public:
  void run(int64_t n, const float* x, float* y) const override {
    softmax::softmax_forward(x, y, {n, in.c, in.h * in.w});
  }
  std::string kernel() const override { return "softmax"; }
};

class AffineStep final : public Step {
 public:
  AffineStep(const float* scale, const float* shift, int64_t c)
      : scale_(scale, scale + c), shift_(shift, shift + c) {}
  void run(int64_t n, const float* x, float* y) const override {
    const int64_t hw = in.h * in.w, c = in.c;
    parallel_for(n * c, std::max<int64_t>(1, 4096 / std::max<int64_t>(hw, 1)),
                 [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const float a = scale_[p % c], b = shift_[p % c];
        const float* xp = x + p * hw;
        float* yp = y + p * hw;
        for (int64_t i = 0; i < hw; ++i) yp[i] = xp[i] * a + b;
      }
    });
  }
  std::string kernel() const override { return "per-channel affine (batch norm)"; }
  int64_t weight_bytes() const override {
    return static_cast<int64_t>((scale_.size() + shift_.size()) * sizeof(float));
  }
  bool in_place() const override { return true; }

 private:
  std::vector<float> scale_, shift_;
};

}  // namespace

Network::Network(std::vector<Dims> inputs, bool bf16)
    : num_inputs_(static_cast<int64_t>(inputs.size())), bf16_(bf16), nodes_(std::move(inputs)) {
  PCN_CHECK(num_inputs_ >= 1, "a network needs at least one input");
  hidden_.assign(nodes_.size(), 0);
}

Network::~Network() = default;

Dims Network::dims(int64_t node) const {
  check_node(node, "node");
  return nodes_[node];
}

void Network::check_node(int64_t node, const char* what) const {
  PCN_CHECK(node >= 0 && node < num_nodes(), what, " ", node, " is not a node of this network (",
            num_nodes(), " nodes)");
  PCN_CHECK(!hidden_[node], what, " ", node, " was fused into the step after it and cannot be read");
}

void Network::select(int64_t node) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  check_node(node, "node");
  current_ = node;
}

void Network::set_outputs(const std::vector<int64_t>& nodes) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  PCN_CHECK(!nodes.empty(), "a network needs at least one output");
  for (int64_t v : nodes) check_node(v, "output");
  outputs_ = nodes;
}

int64_t Network::push(std::unique_ptr<Step> s) {
  const int64_t size = checked_mul(checked_mul(s->out.c, s->out.h, "step output"), s->out.w, "step output");
  PCN_CHECK(size <= kMaxElements, "step ", steps_.size(), " (", s->kernel(), ") would produce ",
            size, " floats per sample, too many to allocate");
  PCN_CHECK(size > 0, "step ", steps_.size(), " (", s->kernel(),
            ") would produce an empty output from input (", s->in.c, ", ", s->in.h, ", ",
            s->in.w, ")");
  if (s->inputs.empty()) s->inputs = {current_};
  nodes_.push_back(s->out);
  hidden_.push_back(0);
  current_ = num_nodes() - 1;
  steps_.push_back(std::move(s));
  step_nodes_.push_back(current_);
  return current_;
}

void Network::add_conv(const float* w, const float* bias, int64_t oc, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                       int64_t dh, int64_t dw, int64_t groups, Act act, float act_param,
                       std::optional<conv::Algo> algo) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  const Dims in = output();
  Conv2dShape s{1, in.c, in.h, in.w, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, groups, 0, 0};
  finish_conv_shape(s);
  auto step = std::make_unique<ConvStep>(s, w, bias, act, act_param, bf16_, algo);
  step->in = in;
  step->out = {oc, s.oh, s.ow};
  push(std::move(step));
}

void Network::add_linear(std::shared_ptr<const linear::PackedLinear> lin, Act act, float param) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  const Dims in = output();
  PCN_CHECK((lin->precision() == linear::Precision::bf16) == bf16_,
            "the fully connected layer's precision does not match the network's (",
            bf16_ ? "bf16" : "fp32", ")");
  PCN_CHECK(lin->in() == in.size(), "the fully connected layer expects ", lin->in(),
            " features, but the previous step gives (", in.c, ", ", in.h, ", ", in.w, ") = ",
            in.size());
  const int64_t out = lin->out();
  auto step = std::make_unique<LinearStep>(std::move(lin), act, param);
  step->in = in;
  step->out = {out, 1, 1};
  push(std::move(step));
}

void Network::add_pool(PoolKind kind, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                       int64_t pw, bool ceil_mode, bool count_include_pad, double p, bool fuse) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  const Dims in = output();
  if (kind == PoolKind::lp) check_norm_type(p);
  const Pool2dShape s = make_pool_shape(1, in.c, in.h, in.w, kh, kw, sh, sw, ph, pw, ceil_mode,
                                        "the previous step's output");
  auto step = std::make_unique<PoolStep>(s, kind, count_include_pad, p);
  step->in = in;
  step->out = {in.c, s.oh, s.ow};
  const auto* conv = steps_.empty() ? nullptr : dynamic_cast<const ConvStep*>(steps_.back().get());
  if (fuse && conv && !conv->has_residual() && step_nodes_.back() == current_ &&
      current_ >= num_inputs_) {
    std::unique_ptr<Step> c = std::move(steps_.back());
    const std::vector<int64_t> reads = c->inputs;
    hidden_[current_] = 1;
    steps_.pop_back();
    step_nodes_.pop_back();
    auto fused = std::make_unique<ConvPoolStep>(std::move(c), std::move(step));
    fused->inputs = reads;
    push(std::move(fused));
    return;
  }
  push(std::move(step));
}

void Network::add_global_avg_pool() {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  auto step = std::make_unique<GlobalAvgPoolStep>();
  step->in = output();
  step->out = {step->in.c, 1, 1};
  push(std::move(step));
}

void Network::add_activation(Act act, float param) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  auto step = std::make_unique<ActStep>(act, param);
  step->in = step->out = output();
  push(std::move(step));
}

void Network::add_flatten() {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  auto step = std::make_unique<FlattenStep>();
  step->in = output();
  step->out = {step->in.size(), 1, 1};
  push(std::move(step));
}

void Network::add_softmax() {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  auto step = std::make_unique<SoftmaxStep>();
  step->in = step->out = output();
  push(std::move(step));
}

void Network::add_affine(const float* scale, const float* shift) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  auto step = std::make_unique<AffineStep>(scale, shift, output().c);
  step->in = step->out = output();
  push(std::move(step));
}

int64_t Network::add_add(const std::vector<int64_t>& nodes, Act act, float param, bool fuse) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  PCN_CHECK(nodes.size() >= 2, "add needs at least 2 inputs, got ", nodes.size());
  for (int64_t v : nodes) check_node(v, "add input");
  const Dims d = nodes_[nodes[0]];
  for (int64_t v : nodes) {
    const Dims e = nodes_[v];
    PCN_CHECK(e.c == d.c && e.h == d.h && e.w == d.w, "add inputs must have equal shapes, got (",
              d.c, ", ", d.h, ", ", d.w, ") and (", e.c, ", ", e.h, ", ", e.w, ")");
  }
  if (fuse && nodes.size() == 2 && !steps_.empty()) {
    auto* conv = dynamic_cast<ConvStep*>(steps_.back().get());
    const int64_t made = step_nodes_.back();
    const int k = nodes[0] == made ? 0 : nodes[1] == made ? 1 : -1;
    if (conv && k >= 0 && nodes[1 - k] != made && !conv->has_residual() &&
        conv->act() == Act::none) {
      conv->inputs.push_back(nodes[1 - k]);
      conv->set_residual(act, param);
      current_ = made;
      return made;
    }
  }
  auto step = make_add_step(act, param);
  step->in = step->out = d;
  step->inputs = nodes;
  return push(std::move(step));
}

int64_t Network::add_multiply(const std::vector<int64_t>& nodes) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  PCN_CHECK(nodes.size() >= 2, "multiply needs at least 2 inputs, got ", nodes.size());
  for (int64_t v : nodes) check_node(v, "multiply input");
  const Dims d = nodes_[nodes[0]];
  for (int64_t v : nodes) {
    const Dims e = nodes_[v];
    PCN_CHECK(e.c == d.c && e.h == d.h && e.w == d.w,
              "multiply inputs must have equal shapes, got (", d.c, ", ", d.h, ", ", d.w,
              ") and (", e.c, ", ", e.h, ", ", e.w, ")");
  }
  auto step = make_multiply_step();
  step->in = step->out = d;
  step->inputs = nodes;
  return push(std::move(step));
}

int64_t Network::add_concat(const std::vector<int64_t>& nodes) {
  std::lock_guard<std::mutex> lock(build_);
  check_open();
  PCN_CHECK(!nodes.empty(), "concat needs at least 1 input");
  for (int64_t v : nodes) check_node(v, "concat input");
  std::vector<Dims> parts;
  Dims out{0, nodes_[nodes[0]].h, nodes_[nodes[0]].w};
  for (int64_t v : nodes) {
    const Dims e = nodes_[v];
    PCN_CHECK(e.h == out.h && e.w == out.w, "concat inputs must have equal (H, W), got (",
              out.h, ", ", out.w, ") and (", e.h, ", ", e.w, ")");
    out.c = checked_add(out.c, e.c, "concat channels");
    parts.push_back(e);
  }
  auto step = make_concat_step(parts);
  step->in = parts[0];
  step->out = out;
  step->inputs = nodes;
  return push(std::move(step));
}

void Network::check_open() const {
  PCN_CHECK(!frozen_.load(), "a network cannot change once it has run");
}

int64_t Network::max_activation() const {
  int64_t m = 0;
  for (const Dims& d : nodes_) m = std::max(m, d.size());
  return m;
}

void Network::freeze() const {
  if (frozen_.load()) return;  // planned once; plan_ is set before frozen_
  std::lock_guard<std::mutex> lock(build_);  // waits for an add_* in progress
  if (frozen_.load()) return;
  std::vector<int64_t> floats;
  for (const Dims& d : nodes_) floats.push_back(d.size());
  std::vector<StepLinks> links;
  for (size_t i = 0; i < steps_.size(); ++i)
    links.push_back({steps_[i]->inputs, step_nodes_[i], steps_[i]->accumulates_into()});
  const std::vector<int64_t> outs = outputs_.empty() ? std::vector<int64_t>{num_nodes() - 1} : outputs_;
  plan_ = std::make_unique<SlotPlan>(plan_slots(num_inputs_, floats, links, outs));
  frozen_.store(true);
}

int64_t Network::arena_floats() const { return plan_ ? plan_->arena : 0; }

namespace {

// Seconds on the wall clock, or of the calling thread's CPU time (which, with one thread,
// is all the work and leaves out the time the thread waited for a core).
double profile_clock(bool thread_cpu) {
  if (thread_cpu) {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void Network::run(int64_t n, const std::vector<const float*>& xs,
                  const std::vector<float*>& ys, double* step_seconds, bool profile_cpu) const {
  freeze();
  const SlotPlan& plan = *plan_;
  const size_t outs = outputs_.empty() ? 1 : outputs_.size();
  PCN_CHECK(static_cast<int64_t>(xs.size()) == num_inputs_, "the network has ", num_inputs_,
            " inputs, got ", xs.size());
  PCN_CHECK(ys.size() == outs, "the network has ", outs, " outputs, got ", ys.size());
  if (n == 0) return;
  // One arena per calling thread, kept between calls (grown, never shrunk), so a steady
  // stream of requests allocates nothing.
  thread_local AlignedBuffer arena;
  arena.resize(static_cast<size_t>(checked_mul(n, std::max<int64_t>(plan.arena, 1), "activations")));
  auto at = [&](int64_t v) -> float* {
    const SlotPlan::Place& p = plan.place[v];
    switch (p.kind) {
      case SlotPlan::input: return const_cast<float*>(xs[p.index]);  // never written
      case SlotPlan::output: return ys[p.index];
      case SlotPlan::slot: break;
    }
    return arena.data() + n * p.index;
  };
  run_as_one_team([&] {
    std::vector<const float*> ins;
    for (size_t i = 0; i < steps_.size(); ++i) {
      const Step& st = *steps_[i];
      ins.clear();
      for (int64_t v : st.inputs) ins.push_back(at(v));
      if (!step_seconds) {
        st.run_many(n, ins.data(), at(step_nodes_[i]));
        continue;
      }
      const double t0 = profile_clock(profile_cpu);
      st.run_many(n, ins.data(), at(step_nodes_[i]));
      step_seconds[i] += profile_clock(profile_cpu) - t0;
    }
  });
  for (const auto& [v, k] : plan.copies) {
    const float* src = at(v);
    std::copy(src, src + n * nodes_[v].size(), ys[k]);
  }
}

}  // namespace pcn::infer
