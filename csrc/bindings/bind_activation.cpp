// relu, leaky_relu, sigmoid, tanh, elu: forward and backward (any shape).
#include <pybind11/pybind11.h>

#include <cmath>

#include "activation/activation.h"
#include "bindings/arrays.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

using Unary = void (*)(const float*, float*, int64_t);
using UnaryP = void (*)(const float*, float*, int64_t, float);
using Binary = void (*)(const float*, const float*, float*, int64_t);
using BinaryP = void (*)(const float*, const float*, float*, int64_t, float);

FArray unary(const py::handle& xo, Unary fn) {
  FArray x = as_float(xo, "x");
  FArray y = new_float(shape_of(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    fn(xp, yp, n);
  }
  return y;
}

FArray unary_p(const py::handle& xo, double param, const char* pname, UnaryP fn) {
  FArray x = as_float(xo, "x");
  PCN_CHECK(std::isfinite(param), pname, " must be a finite number, got ", param);
  FArray y = new_float(shape_of(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  const float p = static_cast<float>(param);
  {
    py::gil_scoped_release nogil;
    fn(xp, yp, n, p);
  }
  return y;
}

// gx = f(grad_y, other); `other` is y or x (named `oname`) and must match grad_y's shape.
template <class Call>
FArray binary_impl(const py::handle& go, const py::handle& oo, const char* oname, Call call) {
  FArray g = as_float(go, "grad_y");
  FArray o = as_float(oo, oname);
  PCN_CHECK(shape_of(g) == shape_of(o), "grad_y shape ", shape_str(g), " does not match ", oname,
            " shape ", shape_str(o));
  FArray gx = new_float(shape_of(g));
  const float* gp = g.data();
  const float* op = o.data();
  float* xp = gx.mutable_data();
  const int64_t n = g.size();
  {
    py::gil_scoped_release nogil;
    call(gp, op, xp, n);
  }
  return gx;
}

FArray binary(const py::handle& go, const py::handle& oo, const char* oname, Binary fn) {
  return binary_impl(go, oo, oname,
                     [fn](const float* g, const float* o, float* gx, int64_t n) { fn(g, o, gx, n); });
}

FArray binary_p(const py::handle& go, const py::handle& oo, const char* oname, double param,
                const char* pname, BinaryP fn) {
  PCN_CHECK(std::isfinite(param), pname, " must be a finite number, got ", param);
  const float p = static_cast<float>(param);
  return binary_impl(go, oo, oname, [fn, p](const float* g, const float* o, float* gx, int64_t n) {
    fn(g, o, gx, n, p);
  });
}

}  // namespace

void register_activation(py::module_& m) {
  namespace a = pcn::activation;
  m.def("relu_forward", [](py::handle x) { return unary(x, &a::relu_forward); }, py::arg("x"),
        "y = max(x, 0) (NaN propagates).");
  m.def("relu_backward",
        [](py::handle gy, py::handle y) { return binary(gy, y, "y", &a::relu_backward); },
        py::arg("grad_y"), py::arg("y"), "grad_x = grad_y where y > 0, else 0.");
  m.def("leaky_relu_forward",
        [](py::handle x, double s) {
          return unary_p(x, s, "negative_slope", &a::leaky_relu_forward);
        },
        py::arg("x"), py::arg("negative_slope"));
  m.def("leaky_relu_backward",
        [](py::handle gy, py::handle x, double s) {
          return binary_p(gy, x, "x", s, "negative_slope", &a::leaky_relu_backward);
        },
        py::arg("grad_y"), py::arg("x"), py::arg("negative_slope"));
  m.def("sigmoid_forward", [](py::handle x) { return unary(x, &a::sigmoid_forward); },
        py::arg("x"));
  m.def("sigmoid_backward",
        [](py::handle gy, py::handle y) { return binary(gy, y, "y", &a::sigmoid_backward); },
        py::arg("grad_y"), py::arg("y"), "grad_x = grad_y * (1 - y) * y.");
  m.def("tanh_forward", [](py::handle x) { return unary(x, &a::tanh_forward); }, py::arg("x"));
  m.def("tanh_backward",
        [](py::handle gy, py::handle y) { return binary(gy, y, "y", &a::tanh_backward); },
        py::arg("grad_y"), py::arg("y"), "grad_x = grad_y * (1 - y^2).");
  m.def("elu_forward",
        [](py::handle x, double alpha) { return unary_p(x, alpha, "alpha", &a::elu_forward); },
        py::arg("x"), py::arg("alpha"));
  m.def("elu_backward",
        [](py::handle gy, py::handle x, double alpha) {
          return binary_p(gy, x, "x", alpha, "alpha", &a::elu_backward);
        },
        py::arg("grad_y"), py::arg("x"), py::arg("alpha"));
}

}  // namespace pcn::bind
