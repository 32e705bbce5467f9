// Where each node of a frozen network (infer/network.h) lives while it runs: an input or
// output array of the caller, or a slot of the per-thread arena. Slots are assigned in step
// order by liveness: a slot is free again once the last step reading its value has run, and
// a step that can write over one of its inputs (in-place steps, a convolution accumulating
// into its residual) takes that input's slot when it is the value's last reader.
#pragma once
#include <cstdint>
#include <vector>

namespace pcn::infer {

struct SlotPlan {
  enum Kind { input, output, slot };
  struct Place {
    Kind kind = slot;
    int64_t index = 0;  // input or output number, or the slot's offset in floats per sample
  };
  std::vector<Place> place;  // per node
  int64_t arena = 0;         // floats per sample
  int64_t slots = 0;
  // (node, output number) copied into outputs at the end: an input returned as an output,
  // or a node returned more than once.
  std::vector<std::pair<int64_t, int64_t>> copies;
};

struct StepLinks {
  std::vector<int64_t> inputs;
  int64_t node;
  int takes_over;  // index into inputs whose slot the step may write over, or -1
};

// node_floats: floats per sample of each node; steps in order.
SlotPlan plan_slots(int64_t num_inputs, const std::vector<int64_t>& node_floats,
                    const std::vector<StepLinks>& steps, const std::vector<int64_t>& outputs);

}  // namespace pcn::infer
