// Fused optimiser steps, in place on 1-D float32 arrays: a parameter, its gradient and the
// optimiser's state (the flat views pyconvnet/optim/base.py:flat_views produces).
#include <pybind11/pybind11.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "bindings/arrays.h"
#include "optim/optim.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

// A 1-D float32 C-contiguous array; `n` >= 0 also requires that length.
FArray vec(const py::handle& obj, const char* name, bool writeable, int64_t n, const char* like) {
  FArray a = as_float_nd(obj, name, 1);
  PCN_CHECK(!writeable || a.writeable(), name, " must be writeable (it is updated in place)");
  PCN_CHECK(n < 0 || a.shape(0) == n, name, " has ", a.shape(0), " elements, ", like, " has ", n);
  return a;
}

struct Span {
  const char* name;
  const FArray* arr;
};

// The kernels read and write element i of every array together: the arrays must not overlap
// (an overlap would also make the result depend on the thread split).
void check_disjoint(std::initializer_list<Span> spans) {
  for (auto a = spans.begin(); a != spans.end(); ++a) {
    for (auto b = a + 1; b != spans.end(); ++b) {
      const auto* a0 = reinterpret_cast<const char*>(a->arr->data());
      const auto* b0 = reinterpret_cast<const char*>(b->arr->data());
      const auto* a1 = a0 + a->arr->nbytes();
      const auto* b1 = b0 + b->arr->nbytes();
      PCN_CHECK(a0 == a1 || b0 == b1 || a1 <= b0 || b1 <= a0, a->name, " and ", b->name,
                " share memory; they must be separate arrays");
    }
  }
}

// A hyper-parameter as the kernels use it: rounded once to float32 (as NumPy does for a Python
// float operand of a float32 array); it must stay finite there.
float f32(double x, const char* name) {
  PCN_CHECK(std::isfinite(x) && std::fabs(x) <= FLT_MAX, name,
            " must be finite and within float32 range, got ", x);
  return static_cast<float>(x);
}

void check_range(double x, const char* name, double lo, bool lo_inclusive, double hi = INFINITY) {
  const bool ok = (lo_inclusive ? x >= lo : x > lo) && x < hi;
  PCN_CHECK(ok, "invalid ", name, ": ", x, " (expected ", lo_inclusive ? "[" : "(", lo, ", ", hi,
            ")");
}

void adam_step(const py::handle& po, const py::handle& go, const py::handle& mo,
               const py::handle& vo, double beta1, double beta2, double eps, double step_size,
               double bc2_sqrt, double weight_decay, double decay) {
  FArray p = vec(po, "param", true, -1, "");
  const int64_t n = p.shape(0);
  FArray g = vec(go, "grad", false, n, "param");
  FArray m = vec(mo, "exp_avg", true, n, "param");
  FArray v = vec(vo, "exp_avg_sq", true, n, "param");
  check_disjoint({{"param", &p}, {"grad", &g}, {"exp_avg", &m}, {"exp_avg_sq", &v}});
  check_range(beta1, "beta1", 0.0, true, 1.0);
  check_range(beta2, "beta2", 0.0, true, 1.0);
  check_range(eps, "eps", 0.0, true);
  check_range(step_size, "step_size", 0.0, true);
  check_range(bc2_sqrt, "bias_correction2_sqrt", 0.0, false);
  check_range(weight_decay, "weight_decay", 0.0, true);
  PCN_CHECK(weight_decay == 0.0 || decay == 1.0,
            "weight_decay (Adam's L2 term) and decay (AdamW's factor) cannot both be used");
  optim::AdamHyper h;
  h.one_minus_beta1 = f32(1.0 - beta1, "1 - beta1");
  h.beta2 = f32(beta2, "beta2");
  h.one_minus_beta2 = f32(1.0 - beta2, "1 - beta2");
  h.bc2_sqrt = f32(bc2_sqrt, "bias_correction2_sqrt");
  h.eps = f32(eps, "eps");
  h.neg_step_size = f32(-step_size, "step_size");
  h.l2 = f32(weight_decay, "weight_decay");
  h.decay = f32(decay, "decay");
  h.use_l2 = weight_decay != 0.0;
  h.use_decay = decay != 1.0;
  float* pp = p.mutable_data();
  const float* gp = g.data();
  float* mp = m.mutable_data();
  float* vp = v.mutable_data();
  py::gil_scoped_release nogil;
  optim::adam_step(pp, gp, mp, vp, n, h);
}

void sgd_step(const py::handle& po, const py::handle& go, const py::handle& bo, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  FArray p = vec(po, "param", true, -1, "");
  const int64_t n = p.shape(0);
  FArray g = vec(go, "grad", false, n, "param");
  check_range(lr, "lr", 0.0, true);
  check_range(momentum, "momentum", 0.0, true);
  check_range(dampening, "dampening", 0.0, true);
  check_range(weight_decay, "weight_decay", 0.0, true);
  PCN_CHECK(!nesterov || (momentum > 0.0 && dampening == 0.0),
            "nesterov=True requires momentum > 0 and dampening = 0");
  const bool use_momentum = momentum != 0.0;
  float* bp = nullptr;
  if (use_momentum) {
    PCN_CHECK(!bo.is_none(), "momentum_buffer is required when momentum != 0");
    // `b` only shares the caller's array, which the call's argument keeps alive after this scope.
    FArray b = vec(bo, "momentum_buffer", true, n, "param");
    check_disjoint({{"param", &p}, {"grad", &g}, {"momentum_buffer", &b}});
    bp = b.mutable_data();
  } else {
    PCN_CHECK(bo.is_none(), "momentum_buffer must be None when momentum is 0");
    check_disjoint({{"param", &p}, {"grad", &g}});
  }
  optim::SgdHyper h;
  h.lr = f32(lr, "lr");
  h.weight_decay = f32(weight_decay, "weight_decay");
  h.momentum = f32(momentum, "momentum");
  h.one_minus_dampening = f32(1.0 - dampening, "1 - dampening");
  h.use_wd = weight_decay != 0.0;
  h.use_momentum = use_momentum;
  h.first = first_step;
  h.use_dampening = dampening != 0.0;
  h.nesterov = nesterov;
  float* pp = p.mutable_data();
  const float* gp = g.data();
  py::gil_scoped_release nogil;
  optim::sgd_step(pp, gp, bp, n, h);
}

}  // namespace

void register_optim(py::module_& m) {
  m.def("adam_step", &adam_step, py::arg("param"), py::arg("grad"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::kw_only(), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
        py::arg("step_size"), py::arg("bias_correction2_sqrt"), py::arg("weight_decay") = 0.0,
        py::arg("decay") = 1.0,
        "One Adam/AdamW step in place on 1-D float32 arrays of equal length (torch's op order):\n"
        "p *= decay (AdamW, skipped when decay == 1); g' = g + weight_decay * p (Adam L2, skipped "
        "when 0);\nexp_avg += (g' - exp_avg) * (1 - beta1); exp_avg_sq = exp_avg_sq * beta2 + "
        "(g' * (1 - beta2)) * g';\np += (exp_avg / (sqrt(exp_avg_sq) / bias_correction2_sqrt + "
        "eps)) * -step_size.\nEvery hyper-parameter is rounded to float32 first; all arithmetic "
        "is float32, bit-identical across ISAs and thread counts.");
  m.def("sgd_step", &sgd_step, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer"),
        py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
        py::arg("weight_decay") = 0.0, py::arg("nesterov") = false, py::arg("first_step") = false,
        "One SGD step in place on 1-D float32 arrays of equal length (torch's op order):\n"
        "d = g + p * weight_decay; with momentum: buf = d on the first step, else buf * momentum "
        "+ d * (1 - dampening)\n(+ d when dampening == 0); d = d + buf * momentum (nesterov) or "
        "buf; p = p - d * lr.\nmomentum_buffer is None when momentum == 0. Hyper-parameters are "
        "rounded to float32 first.");
}

}  // namespace pcn::bind
