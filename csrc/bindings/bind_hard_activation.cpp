// hardtanh (ReLU6) and hardswish, forward and backward (any shape; hardact/hard_activation.h).
#include <pybind11/pybind11.h>

#include <cmath>

#include "bindings/arrays.h"
#include "hardact/hard_activation.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

void check_bounds(double lo, double hi) {
  PCN_CHECK(!std::isnan(lo) && !std::isnan(hi), "min_val and max_val must not be NaN");
  PCN_CHECK(lo <= hi, "min_val (", lo, ") must be <= max_val (", hi, ")");
}

FArray hardtanh_fwd(const py::handle& xo, double lo, double hi) {
  FArray x = as_float(xo, "x");
  check_bounds(lo, hi);
  FArray y = new_float(shape_of(x));
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    const int64_t n = x.size();
    py::gil_scoped_release nogil;
    hardact::hardtanh_forward(xp, yp, n, static_cast<float>(lo), static_cast<float>(hi));
  }
  return y;
}

// gx = f(grad_y, x): both of one shape.
template <class Fn>
FArray backward(const py::handle& go, const py::handle& xo, Fn fn) {
  FArray g = as_float(go, "grad_y");
  FArray x = as_float(xo, "x");
  PCN_CHECK(shape_of(g) == shape_of(x), "grad_y shape ", shape_str(g), " does not match x shape ",
            shape_str(x));
  FArray gx = new_float(shape_of(x));
  {
    const float* gp = g.data();
    const float* xp = x.data();
    float* op = gx.mutable_data();
    const int64_t n = x.size();
    py::gil_scoped_release nogil;
    fn(gp, xp, op, n);
  }
  return gx;
}

FArray hardswish_fwd(const py::handle& xo) {
  FArray x = as_float(xo, "x");
  FArray y = new_float(shape_of(x));
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    const int64_t n = x.size();
    py::gil_scoped_release nogil;
    hardact::hardswish_forward(xp, yp, n);
  }
  return y;
}

}  // namespace

void register_hard_activation(py::module_& m) {
  m.def("hardtanh_forward", &hardtanh_fwd, py::arg("x"), py::arg("min_val"), py::arg("max_val"),
        "clamp(x, min_val, max_val) (NaN propagates).");
  m.def("hardtanh_backward",
        [](py::handle g, py::handle x, double lo, double hi) {
          check_bounds(lo, hi);
          const float l = static_cast<float>(lo), h = static_cast<float>(hi);
          return backward(g, x, [l, h](const float* gp, const float* xp, float* op, int64_t n) {
            hardact::hardtanh_backward(gp, xp, op, n, l, h);
          });
        },
        py::arg("grad_y"), py::arg("x"), py::arg("min_val"), py::arg("max_val"),
        "grad_x = grad_y where min_val < x < max_val, else 0.");
  m.def("hardswish_forward", &hardswish_fwd, py::arg("x"), "x * relu6(x + 3) / 6.");
  m.def("hardswish_backward",
        [](py::handle g, py::handle x) { return backward(g, x, &hardact::hardswish_backward); },
        py::arg("grad_y"), py::arg("x"), "Gradient of hardswish_forward (torch's rule).");
}

}  // namespace pcn::bind
