// _C.linear_forward / _C.linear_backward.
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "linear/linear.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

void check_linear(const FArray& x, const FArray& w) {
  PCN_CHECK(x.ndim() == 2, "x must be 2-D (N, in_features), got shape ", shape_str(x));
  PCN_CHECK(w.ndim() == 2, "weight must be 2-D (out_features, in_features), got shape ",
            shape_str(w));
  PCN_CHECK(x.shape(1) == w.shape(1), "x has ", x.shape(1), " features but weight expects ",
            w.shape(1), " (weight shape ", shape_str(w), ")");
}

FArray linear_forward_py(py::handle x_obj, py::handle w_obj, py::handle b_obj, bool relu) {
  FArray x = as_float(x_obj, "x");
  FArray w = as_float(w_obj, "weight");
  check_linear(x, w);
  const int64_t n = x.shape(0), in = x.shape(1), out = w.shape(0);
  FArray bias;
  const float* bp = nullptr;
  if (!b_obj.is_none()) {
    bias = as_float(b_obj, "bias");
    PCN_CHECK(bias.ndim() == 1 && bias.shape(0) == out, "bias must have shape (", out, ",), got ",
              shape_str(bias));
    bp = bias.data();
  }
  FArray y = new_float({n, out});
  const float* xp = x.data();
  const float* wp = w.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    linear::linear_forward(n, in, out, xp, wp, bp, yp, relu);
  }
  return y;
}

py::tuple linear_backward_py(py::handle x_obj, py::handle w_obj, py::handle gy_obj, bool need_dx,
                             bool need_dw, bool need_db) {
  FArray x = as_float(x_obj, "x");
  FArray w = as_float(w_obj, "weight");
  FArray gy = as_float(gy_obj, "grad_y");
  check_linear(x, w);
  const int64_t n = x.shape(0), in = x.shape(1), out = w.shape(0);
  PCN_CHECK(gy.ndim() == 2 && gy.shape(0) == n && gy.shape(1) == out,
            "grad_y must have shape (", n, ", ", out, "), got ", shape_str(gy));
  py::object dx = py::none(), dw = py::none(), db = py::none();
  float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
  if (need_dx) { FArray a = new_float({n, in}); dxp = a.mutable_data(); dx = a; }
  if (need_dw) { FArray a = new_float({out, in}); dwp = a.mutable_data(); dw = a; }
  if (need_db) { FArray a = new_float({out}); dbp = a.mutable_data(); db = a; }
  const float* xp = x.data();
  const float* wp = w.data();
  const float* gp = gy.data();
  {
    py::gil_scoped_release nogil;
    linear::linear_backward(n, in, out, xp, wp, gp, dxp, dwp, dbp);
  }
  return py::make_tuple(dx, dw, db);
}

}  // namespace

void register_linear(py::module_& m) {
  m.def("linear_forward", &linear_forward_py, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("relu") = false, "y = x @ weight.T + bias (then relu).");
  m.def("linear_backward", &linear_backward_py, py::arg("x"), py::arg("weight"),
        py::arg("grad_y"), py::arg("need_dx") = true, py::arg("need_dw") = true,
        py::arg("need_db") = true, "Gradients (dx, dweight, dbias); None where not needed.");
}

}  // namespace pcn::bind
