// _C.conv2d_forward / _C.conv2d_backward.
#include <pybind11/pybind11.h>

#include <string>

#include "bindings/arrays.h"
#include "bindings/conv_args.h"
#include "common/shape_checks.h"
#include "common/shapes.h"
#include "conv/conv2d.h"
#include "conv/conv_plan.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

// Validates everything and fills the shape; the message names the offending argument.
Conv2dShape conv_shape(const FArray& x, const FArray& w, const py::handle& stride,
                       const py::handle& padding, const py::handle& dilation, const py::handle& groups) {
  PCN_CHECK(x.ndim() == 4, "x must be 4-D (N, C, H, W), got shape ", shape_str(x));
  PCN_CHECK(w.ndim() == 4, "weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape ",
            shape_str(w));
  return conv_shape_of({x.shape(0), x.shape(1), x.shape(2), x.shape(3)},
                       {w.shape(0), w.shape(1), w.shape(2), w.shape(3)}, stride, padding, dilation, groups);
}

FArray conv2d_forward_py(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                         py::handle stride, py::handle padding, py::handle dilation,
                         py::handle groups, bool relu) {
  FArray x = as_float(x_obj, "x");
  FArray w = as_float(w_obj, "weight");
  Conv2dShape s = conv_shape(x, w, stride, padding, dilation, groups);
  FArray bias;
  const float* bp = nullptr;
  if (!b_obj.is_none()) {
    bias = as_float(b_obj, "bias");
    PCN_CHECK(bias.ndim() == 1 && bias.shape(0) == s.oc, "bias must have shape (", s.oc,
              ",), got ", shape_str(bias));
    bp = bias.data();
  }
  FArray y = new_float({s.n, s.oc, s.oh, s.ow});
  const float* xp = x.data();
  const float* wp = w.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    conv::conv2d_forward(s, xp, wp, bp, yp, relu);
  }
  return y;
}

py::tuple conv2d_backward_py(py::handle x_obj, py::handle w_obj, py::handle gy_obj,
                             py::handle stride, py::handle padding, py::handle dilation,
                             py::handle groups, bool need_dx, bool need_dw, bool need_db) {
  FArray x = as_float(x_obj, "x");
  FArray w = as_float(w_obj, "weight");
  FArray gy = as_float(gy_obj, "grad_y");
  Conv2dShape s = conv_shape(x, w, stride, padding, dilation, groups);
  PCN_CHECK(gy.ndim() == 4 && gy.shape(0) == s.n && gy.shape(1) == s.oc && gy.shape(2) == s.oh &&
                gy.shape(3) == s.ow,
            "grad_y must have the output's shape (", s.n, ", ", s.oc, ", ", s.oh, ", ", s.ow,
            "), got ", shape_str(gy));
  py::object dx = py::none(), dw = py::none(), db = py::none();
  float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
  if (need_dx) { FArray a = new_float({s.n, s.c, s.h, s.w}); dxp = a.mutable_data(); dx = a; }
  if (need_dw) { FArray a = new_float(shape_of(w)); dwp = a.mutable_data(); dw = a; }
  if (need_db) { FArray a = new_float({s.oc}); dbp = a.mutable_data(); db = a; }
  const float* xp = x.data();
  const float* wp = w.data();
  const float* gp = gy.data();
  {
    py::gil_scoped_release nogil;
    conv::conv2d_backward(s, xp, wp, gp, dxp, dwp, dbp);
  }
  return py::make_tuple(dx, dw, db);
}

}  // namespace

void register_conv(py::module_& m) {
  m.def("conv2d_forward", &conv2d_forward_py, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("stride"), py::arg("padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("relu") = false,
        "Convolution, NCHW / OIHW; padding is (top, left, bottom, right).");
  m.def("conv2d_backward", &conv2d_backward_py, py::arg("x"), py::arg("weight"),
        py::arg("grad_y"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("need_dx") = true, py::arg("need_dw") = true,
        py::arg("need_db") = true, "Gradients (dx, dweight, dbias); None where not needed.");
  m.def(
      "conv_algorithm",
      [](py::handle xs, py::handle ws, py::handle st, py::handle pd, py::handle di, py::handle g,
         const std::string& pass) {
        const Conv2dShape s = described_conv_shape(xs, ws, st, pd, di, g);
        for (conv::Pass p : {conv::Pass::forward, conv::Pass::serve_fp32, conv::Pass::serve_bf16,
                             conv::Pass::grad_input, conv::Pass::grad_weight})
          if (pass == conv::pass_name(p)) return std::string(conv::algo_name(conv::choose_algorithm(s, current_isa(), p)));
        throw py::value_error("pass must be one of forward, serve_fp32, serve_bf16, grad_input, grad_weight, got '" +
                              pass + "'");
      },
      py::arg("x_shape"), py::arg("weight_shape"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("groups"), py::arg("pass_"),
      "The algorithm the plan (csrc/conv/conv_plan.h) picks for this shape and pass on the current tier.");
  m.def("conv_plan_table", &conv::conv_plan_table,
        "The plan's rules as the Markdown table of docs/ARCHITECTURE.md.");
}

}  // namespace pcn::bind
