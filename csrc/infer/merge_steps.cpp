#include "infer/merge_steps.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/threading.h"

namespace pcn::infer {

namespace {

// Elementwise passes split in chunks of whole 16-float vectors, about 16 KB each, so a chunk
// stays in L1 between the sum and the activation.
constexpr int64_t kChunk = 4096;

template <class Op>
void elementwise(int64_t count, Op op) {
  parallel_for((count + kChunk - 1) / kChunk, 1, [&](int64_t c0, int64_t c1) {
    const int64_t i0 = c0 * kChunk, i1 = std::min(count, c1 * kChunk);
    for (int64_t b = i0; b < i1; b += kChunk) {
      const int64_t e = std::min(i1, b + kChunk);
      op(b, e);
    }
  });
}

}  // namespace

void sum_act(int64_t count, const float* const* xs, int64_t inputs, Act act, float param,
             float* y) {
  elementwise(count, [&](int64_t b, int64_t e) {
    const float* a = xs[0];
    const float* c = xs[1];
    if (act == Act::relu && inputs == 2) {
      for (int64_t i = b; i < e; ++i) y[i] = std::max(a[i] + c[i], 0.0f);
      return;
    }
    for (int64_t i = b; i < e; ++i) y[i] = a[i] + c[i];
    for (int64_t k = 2; k < inputs; ++k) {
      const float* d = xs[k];
      for (int64_t i = b; i < e; ++i) y[i] += d[i];
    }
    if (act != Act::none) apply_act(act, param, y + b, y + b, e - b);
  });
}

namespace {

class AddStep final : public Step {
 public:
  AddStep(Act act, float param) : act_(act), param_(param) {}
  void run(int64_t, const float*, float*) const override {}
  void run_many(int64_t n, const float* const* xs, float* y) const override {
    sum_act(n * out.size(), xs, static_cast<int64_t>(inputs.size()), act_, param_, y);
  }
  std::string kernel() const override {
    return std::string("add") + (act_ != Act::none ? std::string(" + ") + act_name(act_) : "");
  }
  int accumulates_into() const override { return 0; }

 private:
  Act act_;
  float param_;
};

class MultiplyStep final : public Step {
 public:
  void run(int64_t, const float*, float*) const override {}
  void run_many(int64_t n, const float* const* xs, float* y) const override {
    const int64_t k = static_cast<int64_t>(inputs.size());
    elementwise(n * out.size(), [&](int64_t b, int64_t e) {
      const float* a = xs[0];
      const float* c = xs[1];
      for (int64_t i = b; i < e; ++i) y[i] = a[i] * c[i];
      for (int64_t j = 2; j < k; ++j) {
        const float* d = xs[j];
        for (int64_t i = b; i < e; ++i) y[i] *= d[i];
      }
    });
  }
  std::string kernel() const override { return "multiply"; }
  int accumulates_into() const override { return 0; }
};

class ConcatStep final : public Step {
 public:
  explicit ConcatStep(std::vector<Dims> parts) : parts_(std::move(parts)) {}
  void run(int64_t, const float*, float*) const override {}
  void run_many(int64_t n, const float* const* xs, float* y) const override {
    const int64_t k = static_cast<int64_t>(parts_.size()), total = out.size();
    parallel_for(n * k, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t b = p / k, j = p % k;
        int64_t off = 0;
        for (int64_t q = 0; q < j; ++q) off += parts_[q].size();
        const int64_t sz = parts_[j].size();
        std::memcpy(y + b * total + off, xs[j] + b * sz, static_cast<size_t>(sz) * sizeof(float));
      }
    });
  }
  std::string kernel() const override { return "concat (copy)"; }

 private:
  std::vector<Dims> parts_;
};

}  // namespace

std::unique_ptr<Step> make_add_step(Act act, float param) {
  return std::make_unique<AddStep>(act, param);
}

std::unique_ptr<Step> make_multiply_step() { return std::make_unique<MultiplyStep>(); }

std::unique_ptr<Step> make_concat_step(std::vector<Dims> parts) {
  return std::make_unique<ConcatStep>(std::move(parts));
}

}  // namespace pcn::infer
