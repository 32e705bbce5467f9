// softmax / log_softmax along an axis; cross-entropy per-sample losses and gradient.
#include <pybind11/pybind11.h>

#include <cmath>

#include <cstdint>
#include <vector>

#include "bindings/arrays.h"
#include "softmax/softmax.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

FArray softmax_impl(const py::handle& xo, int64_t axis, bool log) {
  FArray x = as_float(xo, "x");
  const int64_t nd = x.ndim();
  PCN_CHECK(nd >= 1, "x must have at least 1 dimension, got a 0-d array");
  PCN_CHECK(axis >= -nd && axis < nd, "axis ", axis, " is out of range for x of shape ",
            shape_str(x), " (expected ", -nd, " <= axis < ", nd, ")");
  if (axis < 0) axis += nd;
  pcn::softmax::AxisShape s{1, x.shape(axis), 1};
  for (int64_t d = 0; d < axis; ++d) s.outer *= x.shape(d);
  for (int64_t d = axis + 1; d < nd; ++d) s.inner *= x.shape(d);
  FArray y = new_float(shape_of(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (log)
      pcn::softmax::log_softmax_forward(xp, yp, s);
    else
      pcn::softmax::softmax_forward(xp, yp, s);
  }
  return y;
}

// Checks logits (N, C) and target int64 (N,) with every index in [0, C), and returns a copy of
// the checked indices: the kernel then reads only validated values even if another Python
// thread writes to `target` while the GIL is released.
std::vector<int64_t> checked_target(const FArray& logits, const py::handle& to) {
  auto t = as_typed<int64_t>(to, "target", "int64");
  const int64_t n = logits.shape(0), c = logits.shape(1);
  PCN_CHECK(t.ndim() == 1 && t.shape(0) == n, "target must have shape (", n,
            ",) to match logits of shape ", shape_str(logits), ", got ", shape_str(t));
  std::vector<int64_t> out(t.data(), t.data() + n);
  for (int64_t i = 0; i < n; ++i)
    PCN_CHECK(out[i] >= 0 && out[i] < c, "target[", i, "] = ", out[i],
              " is out of range: class indices must be in [0, ", c, ") for logits of shape ",
              shape_str(logits));
  return out;
}

}  // namespace

void register_softmax(py::module_& m) {
  m.def("softmax_forward", [](py::handle x, int64_t axis) { return softmax_impl(x, axis, false); },
        py::arg("x"), py::arg("axis"));
  m.def("log_softmax_forward",
        [](py::handle x, int64_t axis) { return softmax_impl(x, axis, true); }, py::arg("x"),
        py::arg("axis"));
  m.def(
      "cross_entropy_forward",
      [](py::handle lo, py::handle to) {
        FArray logits = as_float_nd(lo, "logits", 2);
        const std::vector<int64_t> t = checked_target(logits, to);
        const int64_t n = logits.shape(0), c = logits.shape(1);
        FArray loss = new_float({n});
        const float* lp = logits.data();
        const int64_t* tp = t.data();  // the validated copy
        float* op = loss.mutable_data();
        {
          py::gil_scoped_release nogil;
          pcn::softmax::cross_entropy_forward(lp, tp, op, n, c);
        }
        return loss;
      },
      py::arg("logits"), py::arg("target"),
      "Per-sample losses (N,) float32: logsumexp(logits[i]) - logits[i, target[i]].");
  m.def(
      "cross_entropy_backward",
      [](py::handle lo, py::handle to, double scale) {
        FArray logits = as_float_nd(lo, "logits", 2);
        const std::vector<int64_t> t = checked_target(logits, to);
        PCN_CHECK(std::isfinite(scale), "scale must be a finite number, got ", scale);
        const int64_t n = logits.shape(0), c = logits.shape(1);
        FArray grad = new_float({n, c});
        const float* lp = logits.data();
        const int64_t* tp = t.data();  // the validated copy
        float* gp = grad.mutable_data();
        {
          py::gil_scoped_release nogil;
          pcn::softmax::cross_entropy_backward(lp, tp, scale, gp, n, c);
        }
        return grad;
      },
      py::arg("logits"), py::arg("target"), py::arg("scale"),
      "(softmax(logits) - onehot(target)) * scale, shape (N, C).");
}

}  // namespace pcn::bind
