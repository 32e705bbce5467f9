// Fused optimiser updates: Adam/AdamW and SGD (momentum, dampening, Nesterov, weight decay).
//
// Why C++: the NumPy updates made ~11 single-threaded passes over every chunk of a parameter;
// these kernels read p, g and the state once and write p and the state once per step, threaded
// (Adam on a 3.2 M-element weight: ~12 ms -> ~4.6 ms on one thread, ~3.3 ms on two). Adam is
// bound by its two divisions and one square root per element, which exactness forbids replacing.
//
// Exactness contract. Every element is updated from its own p, g, m, v only, so the range is split
// across threads in contiguous chunks and the result is bit-identical for every thread count.
// The portable, AVX2 and AVX-512 kernels (Adam; SGD has portable and AVX-512 ones) perform the
// same float32 operations in the same order, with no fused multiply-add (csrc/optim/ is compiled
// with -ffp-contract=off, see CMakeLists.txt), so every ISA gives the same bits, and the same
// bits as the former NumPy implementation (tests/reference/optim_numpy.py): NumPy rounds each Python-float hyper-parameter to float32 and
// then computes in float32, which is what the float fields below are.
//
// Adam, per element (torch's single-tensor order; c(x) = float32 rounding of the double x):
//   if use_decay: p = p * decay                          AdamW: decay = c(1 - lr * wd)
//   if use_l2:    g = g + p * l2                         Adam:  l2 = c(wd)
//   m = m + (g - m) * one_minus_beta1                    (torch's lerp)
//   v = v * beta2 + (g * one_minus_beta2) * g
//   p = p + (m / (sqrt(v) / bc2_sqrt + eps)) * neg_step_size   neg_step_size = c(-lr / (1 - beta1^t))
//
// SGD, per element (lr, weight_decay, momentum, one_minus_dampening = c(1 - dampening) rounded
// likewise):
//   d = g;  if use_wd: d = g + p * weight_decay
//   if use_momentum:
//     b = first ? d : (use_dampening ? b * momentum + d * one_minus_dampening : b * momentum + d)
//     d = nesterov ? d + b * momentum : b
//   p = p - d * lr
#pragma once
#include <cstdint>

namespace pcn::optim {

struct AdamHyper {
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float bc2_sqrt;       // sqrt(1 - beta2^t)
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^t)
  float l2;             // used when use_l2
  float decay;          // used when use_decay
  bool use_l2;
  bool use_decay;
};

struct SgdHyper {
  float lr;
  float weight_decay;          // used when use_wd
  float momentum;              // used when use_momentum
  float one_minus_dampening;   // used when use_dampening (and not first)
  bool use_wd;
  bool use_momentum;
  bool first;                  // first step: the momentum buffer is set to d
  bool use_dampening;
  bool nesterov;
};

// Raw single-threaded kernels over n elements (any n >= 0, any alignment). The arrays must not
// overlap. `buf` is only touched when use_momentum.
using AdamKernel = void (*)(float* p, const float* g, float* m, float* v, int64_t n,
                            const AdamHyper& h);
using SgdKernel = void (*)(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h);

AdamKernel adam_kernel_ref();
SgdKernel sgd_kernel_ref();
#ifdef PCN_HAVE_AVX2
AdamKernel adam_kernel_avx2();
#endif
#ifdef PCN_HAVE_AVX512
AdamKernel adam_kernel_avx512();
SgdKernel sgd_kernel_avx512();
#endif
// SGD has no AVX2 kernel: it is a few multiply-adds per 8-16 bytes moved, so memory-bound; GCC's
// SSE vectorisation of the portable loop already runs at memory speed for large parameters (an
// AVX2 version measured the same there, and only ~10% faster on cache-resident ones). The
// AVX-512 one (two 16-lane blocks per iteration) is ~1.6-1.9x the portable loop on
// cache-resident parameters (65536 floats) and the same speed on memory-bound ones
// (benchmarks/compare_isa_misc.py --only sgd); the avx2 tier runs the portable kernel.

// Elements per parallel chunk (a multiple of 16, so SIMD tails occur only at the end of an array).
constexpr int64_t kGrain = 16384;

// Threaded entry points; adam_step dispatches on current_isa().
void adam_step(float* p, const float* g, float* m, float* v, int64_t n, const AdamHyper& h);
void sgd_step(float* p, const float* g, float* buf, int64_t n, const SgdHyper& h);

}  // namespace pcn::optim
