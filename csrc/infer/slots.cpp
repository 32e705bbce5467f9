#include "infer/slots.h"

#include <algorithm>

namespace pcn::infer {

SlotPlan plan_slots(int64_t num_inputs, const std::vector<int64_t>& node_floats,
                    const std::vector<StepLinks>& steps, const std::vector<int64_t>& outputs) {
  const int64_t nodes = static_cast<int64_t>(node_floats.size());
  const int64_t never = -1, forever = static_cast<int64_t>(steps.size());
  SlotPlan plan;
  plan.place.assign(static_cast<size_t>(nodes), {});
  std::vector<int64_t> last_reader(static_cast<size_t>(nodes), never);
  for (size_t i = 0; i < steps.size(); ++i)
    for (int64_t v : steps[i].inputs) last_reader[v] = static_cast<int64_t>(i);
  for (int64_t k = 0; k < num_inputs; ++k) plan.place[k] = {SlotPlan::input, k};
  std::vector<char> is_output(static_cast<size_t>(nodes), 0);
  for (size_t k = 0; k < outputs.size(); ++k) {
    const int64_t v = outputs[k];
    if (v < num_inputs || is_output[v]) {
      plan.copies.push_back({v, static_cast<int64_t>(k)});
      continue;
    }
    is_output[v] = 1;
    plan.place[v] = {SlotPlan::output, static_cast<int64_t>(k)};
    last_reader[v] = forever;
  }

  std::vector<int64_t> size;  // floats per sample of each slot (grown as values need)
  std::vector<int64_t> slot_of(static_cast<size_t>(nodes), -1);
  std::vector<char> free_slot;
  for (size_t i = 0; i < steps.size(); ++i) {
    const StepLinks& st = steps[i];
    const int64_t v = st.node, need = node_floats[v];
    if (!is_output[v]) {
      int64_t chosen = -1;
      if (st.takes_over >= 0) {
        const int64_t src = st.inputs[st.takes_over];
        const bool once = std::count(st.inputs.begin(), st.inputs.end(), src) == 1;
        if (once && slot_of[src] >= 0 && last_reader[src] == static_cast<int64_t>(i))
          chosen = slot_of[src];
      }
      if (chosen < 0) {
        // the smallest free slot that holds the value, else the largest free one (grown)
        for (size_t s = 0; s < size.size(); ++s) {
          if (!free_slot[s]) continue;
          if (chosen < 0) { chosen = static_cast<int64_t>(s); continue; }
          const bool fits = size[s] >= need, chosen_fits = size[chosen] >= need;
          if ((fits && (!chosen_fits || size[s] < size[chosen])) ||
              (!fits && !chosen_fits && size[s] > size[chosen]))
            chosen = static_cast<int64_t>(s);
        }
        if (chosen < 0) {
          chosen = static_cast<int64_t>(size.size());
          size.push_back(0);
          free_slot.push_back(1);
        }
        free_slot[chosen] = 0;
      }
      size[chosen] = std::max(size[chosen], need);
      slot_of[v] = chosen;
    }
    // values read for the last time here give their slots back (the output's slot, when it
    // took one over, stays taken)
    for (int64_t src : st.inputs)
      if (last_reader[src] == static_cast<int64_t>(i) && slot_of[src] >= 0 &&
          slot_of[src] != slot_of[v])
        free_slot[slot_of[src]] = 1;
    if (last_reader[v] == never && slot_of[v] >= 0) free_slot[slot_of[v]] = 1;  // unread
  }
  std::vector<int64_t> offset(size.size());
  for (size_t s = 0; s < size.size(); ++s) {
    offset[s] = plan.arena;
    plan.arena += (size[s] + 15) / 16 * 16;  // 64-byte aligned per sample
  }
  for (int64_t v = 0; v < nodes; ++v)
    if (slot_of[v] >= 0) plan.place[v] = {SlotPlan::slot, offset[slot_of[v]]};
  plan.slots = static_cast<int64_t>(size.size());
  return plan;
}

}  // namespace pcn::infer
