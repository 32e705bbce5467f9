// A network frozen for serving: a graph of steps in topological order, each with its weights
// packed once for the kernel that runs it, run on a whole batch by one C++ call (no Python
// between layers).
//
// Values are numbered nodes: the inputs are nodes 0 .. inputs - 1, and every step adds one
// node (its output). A step reads one or more earlier nodes: the chain steps (add_conv, ...)
// read the current node (the last step's output, or the one chosen by select()), the merge
// steps (add_add, add_multiply, add_concat) the nodes named. set_outputs() names the nodes
// run() returns (by default the last). Activations live in slots of a per-thread arena,
// assigned by liveness (infer/slots.h): a slot is reused once the last reader of its value
// has run, so a chain needs two slots, as a ping-pong pair, and a ResNet about three.
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
#include <optional>
#include <string>
#include <vector>

#include "common/shapes.h"
#include "conv/conv2d_prepared.h"
#include "conv/conv_plan.h"
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
  // Steps reading several nodes: xs[k] holds n samples of node inputs[k]. A step that
  // accumulates into one of its inputs (accumulates_into() = k) may be given y == xs[k].
  virtual void run_many(int64_t n, const float* const* xs, float* y) const { run(n, xs[0], y); }
  // The input (index into `inputs`) whose slot this step can take over as its output when
  // it is that value's last reader, or -1. 0 for in-place steps.
  virtual int accumulates_into() const { return in_place() ? 0 : -1; }
  // The kernel that runs, for summary(): e.g. "conv direct avx512 + relu".
  virtual std::string kernel() const = 0;
  virtual int64_t weight_bytes() const { return 0; }
  // Whether run() may be given y == x.
  virtual bool in_place() const { return false; }
  Dims in, out;                 // in: the first input's dims
  std::vector<int64_t> inputs;  // the nodes read
};

struct SlotPlan;

class Network {
 public:
  Network(std::vector<Dims> inputs, bool bf16);
  Network(Dims input, bool bf16) : Network(std::vector<Dims>{input}, bf16) {}
  ~Network();
  // The current node's dims (what the next chain step reads).
  Dims output() const { return dims(current_); }
  Dims input() const { return nodes_[0]; }
  int64_t num_inputs() const { return num_inputs_; }
  int64_t num_nodes() const { return static_cast<int64_t>(nodes_.size()); }
  Dims dims(int64_t node) const;
  bool bf16() const { return bf16_; }
  int64_t current() const { return current_; }
  // The node the next chain step reads.
  void select(int64_t node);
  const std::vector<int64_t>& outputs() const { return outputs_; }
  void set_outputs(const std::vector<int64_t>& nodes);

  // Each add_* checks that the step fits the node(s) it reads, appends it, and makes its
  // output the current node (the merge steps also return it).
  // With `algo`, the convolution runs that algorithm at every batch instead of the plan's
  // choice (ServingConv; benchmarks and tests).
  void add_conv(const float* w, const float* bias, int64_t oc, int64_t kh, int64_t kw,
                int64_t sh, int64_t sw, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                int64_t dh, int64_t dw, int64_t groups, Act act, float act_param,
                std::optional<conv::Algo> algo = std::nullopt);
  void add_linear(std::shared_ptr<const linear::PackedLinear> lin, Act act, float act_param);
  enum class PoolKind { max, avg, lp };
  // With fuse, a pooling right after a convolution whose output nothing else reads (the
  // caller's promise) runs with it as one step (ConvPoolStep).
  void add_pool(PoolKind kind, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                int64_t pw, bool ceil_mode, bool count_include_pad, double p, bool fuse = true);
  void add_global_avg_pool();
  void add_activation(Act act, float param);
  // (c, h, w) -> (c * h * w, 1, 1): the same floats, so no work unless it is the first or
  // last step.
  void add_flatten();
  // Softmax over the channel axis of each sample (the features of a flat vector).
  void add_softmax();
  // y = x * scale[c] + shift[c] per channel (BatchNorm in eval mode with nothing to fold into).
  void add_affine(const float* scale, const float* shift);
  // act(a + b + ...) elementwise over nodes of equal dims. With fuse, an operand made by the
  // last step, when that step is a convolution without an activation and the operand is read
  // by nothing else (the caller's promise), is folded into it: the convolution then adds the
  // other operand to its output (inside the GEMM's epilogue where the kernel allows) and
  // applies act, and no node is added (the convolution's node is the sum).
  int64_t add_add(const std::vector<int64_t>& nodes, Act act, float param, bool fuse);
  // a * b * ... elementwise over nodes of equal dims.
  int64_t add_multiply(const std::vector<int64_t>& nodes);
  // Concatenation along channels of nodes of equal (h, w).
  int64_t add_concat(const std::vector<int64_t>& nodes);

  // xs[k] holds n samples of input k, ys[k] receives n samples of output k. With
  // step_seconds (one per step), each step's wall time (or with profile_cpu the calling
  // thread's CPU time) is added to it (profiling).
  void run(int64_t n, const std::vector<const float*>& xs, const std::vector<float*>& ys,
           double* step_seconds = nullptr, bool profile_cpu = false) const;
  void run(int64_t n, const float* x, float* y) const { run(n, {x}, {y}); }
  void freeze() const;
  const std::vector<std::unique_ptr<Step>>& steps() const { return steps_; }
  // The node each step writes (steps()[i] writes step_node(i)).
  int64_t step_node(size_t i) const { return step_nodes_[i]; }
  // Largest activation of one sample (floats) between steps.
  int64_t max_activation() const;
  // Floats of one sample's activation slots (the arena a run needs per sample), once frozen.
  int64_t arena_floats() const;

 private:
  int64_t push(std::unique_ptr<Step> s);
  void check_open() const;
  void check_node(int64_t node, const char* what) const;
  mutable std::atomic<bool> frozen_{false};
  mutable std::mutex build_;  // add_* may run without the GIL (packing)
  int64_t num_inputs_;
  bool bf16_;
  std::vector<Dims> nodes_;
  std::vector<char> hidden_;  // nodes fused away (no step may read them)
  int64_t current_ = 0;
  std::vector<int64_t> outputs_;  // empty: the last node
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<int64_t> step_nodes_;
  mutable std::unique_ptr<const SlotPlan> plan_;  // made by freeze()
};

}  // namespace pcn::infer
