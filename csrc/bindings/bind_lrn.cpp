// local_response_norm forward/backward (NCHW float32; lrn/lrn.h).
#include <pybind11/pybind11.h>

#include <cmath>

#include "bindings/arrays.h"
#include "lrn/lrn.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

lrn::LrnShape lrn_shape(const FArray& x, int64_t size, double alpha, double beta, double k) {
  PCN_CHECK(size >= 1, "size must be >= 1, got ", size);
  PCN_CHECK(std::isfinite(alpha), "alpha must be a finite number, got ", alpha);
  PCN_CHECK(std::isfinite(beta), "beta must be a finite number, got ", beta);
  PCN_CHECK(std::isfinite(k), "k must be a finite number, got ", k);
  const int64_t hw = checked_mul(x.shape(2), x.shape(3), "x");
  checked_mul(checked_mul(x.shape(0), x.shape(1), "x"), hw, "x");
  return {x.shape(0), x.shape(1), hw, size, static_cast<float>(alpha), static_cast<float>(beta),
          static_cast<float>(k)};
}

py::object forward(const py::handle& xo, int64_t size, double alpha, double beta, double k,
                   bool keep_scale) {
  FArray x = as_float_nd(xo, "x", 4);
  const lrn::LrnShape sh = lrn_shape(x, size, alpha, beta, k);
  FArray y = new_float(shape_of(x));
  FArray s = keep_scale ? new_float(shape_of(x)) : FArray(std::vector<py::ssize_t>{0});
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    float* sp = keep_scale ? s.mutable_data() : nullptr;
    py::gil_scoped_release nogil;
    lrn::lrn_forward(xp, yp, sp, sh);
  }
  if (keep_scale) return py::make_tuple(y, s);
  return std::move(y);
}

FArray backward(const py::handle& xo, const py::handle& yo, const py::handle& so,
                const py::handle& go, int64_t size, double alpha, double beta, double k) {
  FArray x = as_float_nd(xo, "x", 4);
  FArray y = as_float_nd(yo, "y", 4);
  FArray s = as_float_nd(so, "scale", 4);
  FArray g = as_float_nd(go, "grad_y", 4);
  const auto shape = shape_of(x);
  PCN_CHECK(shape_of(y) == shape, "y shape ", shape_str(y), " does not match x shape ", shape_str(x));
  PCN_CHECK(shape_of(s) == shape, "scale shape ", shape_str(s), " does not match x shape ", shape_str(x));
  PCN_CHECK(shape_of(g) == shape, "grad_y shape ", shape_str(g), " does not match x shape ",
            shape_str(x));
  const lrn::LrnShape sh = lrn_shape(x, size, alpha, beta, k);
  FArray dx = new_float(shape);
  {
    const float *xp = x.data(), *yp = y.data(), *sp = s.data(), *gp = g.data();
    float* dp = dx.mutable_data();
    py::gil_scoped_release nogil;
    lrn::lrn_backward(xp, yp, sp, gp, dp, sh);
  }
  return dx;
}

}  // namespace

void register_lrn(py::module_& m) {
  m.def("lrn_forward", &forward, py::arg("x"), py::arg("size"), py::arg("alpha"), py::arg("beta"),
        py::arg("k"), py::arg("keep_scale") = false,
        "Local response normalisation across channels -> y, or (y, scale) with keep_scale.");
  m.def("lrn_backward", &backward, py::arg("x"), py::arg("y"), py::arg("scale"), py::arg("grad_y"),
        py::arg("size"), py::arg("alpha"), py::arg("beta"), py::arg("k"),
        "Gradient of lrn_forward -> dx.");
}

}  // namespace pcn::bind
