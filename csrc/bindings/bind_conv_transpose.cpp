// _C.conv_transpose2d_forward / _C.conv_transpose2d_backward.
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "common/shape_checks.h"
#include "common/shapes.h"
#include "conv/conv_transpose2d.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

// Validates everything and fills the shape; the message names the offending argument.
ConvTranspose2dShape tconv_shape(const FArray& x, const FArray& w, const py::handle& stride,
                                 const py::handle& padding, const py::handle& output_padding,
                                 const py::handle& dilation, int64_t groups) {
  PCN_CHECK(x.ndim() == 4, "x must be 4-D (N, C, H, W), got shape ", shape_str(x));
  PCN_CHECK(w.ndim() == 4,
            "weight must be 4-D (in_channels, out_channels/groups, kH, kW), got shape ", shape_str(w));
  const auto st = pair_arg(stride, "stride");
  const auto pd = pair_arg(padding, "padding");
  const auto op = pair_arg(output_padding, "output_padding");
  const auto di = pair_arg(dilation, "dilation");
  ConvTranspose2dShape s{};
  s.n = x.shape(0), s.c = x.shape(1), s.h = x.shape(2), s.w = x.shape(3);
  PCN_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  s.oc = checked_mul(w.shape(1), groups, "groups"), s.kh = w.shape(2), s.kw = w.shape(3);
  s.sh = st[0], s.sw = st[1], s.ph = pd[0], s.pw = pd[1];
  s.oph = op[0], s.opw = op[1], s.dh = di[0], s.dw = di[1];
  s.groups = groups;
  PCN_CHECK(w.shape(0) == s.c, "weight has shape ", shape_str(w), " but x has ", s.c,
            " channels: expected weight.shape[0] == in_channels == ", s.c);
  finish_conv_transpose_shape(s);
  return s;
}

FArray conv_transpose2d_forward_py(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                                   py::handle stride, py::handle padding,
                                   py::handle output_padding, py::handle dilation, int64_t groups) {
  FArray x = as_float(x_obj, "x");
  FArray w = as_float(w_obj, "weight");
  const ConvTranspose2dShape s = tconv_shape(x, w, stride, padding, output_padding, dilation, groups);
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
    conv::conv_transpose2d_forward(s, xp, wp, bp, yp);
  }
  return y;
}

py::tuple conv_transpose2d_backward_py(py::handle x_obj, py::handle w_obj, py::handle gy_obj,
                                       py::handle stride, py::handle padding,
                                       py::handle output_padding, py::handle dilation,
                                       int64_t groups, bool need_dx, bool need_dw, bool need_db) {
  FArray x = as_float(x_obj, "x");
  FArray w = as_float(w_obj, "weight");
  FArray gy = as_float(gy_obj, "grad_y");
  const ConvTranspose2dShape s = tconv_shape(x, w, stride, padding, output_padding, dilation, groups);
  PCN_CHECK(gy.ndim() == 4 && gy.shape(0) == s.n && gy.shape(1) == s.oc && gy.shape(2) == s.oh &&
                gy.shape(3) == s.ow,
            "grad_y must have the output's shape (", s.n, ", ", s.oc, ", ", s.oh, ", ", s.ow,
            "), got ", shape_str(gy));
  py::object dx = py::none(), dw = py::none(), db = py::none();
  float *dxp = nullptr, *dwp = nullptr, *dbp = nullptr;
  if (need_dx) { FArray a = new_float(shape_of(x)); dxp = a.mutable_data(); dx = a; }
  if (need_dw) { FArray a = new_float(shape_of(w)); dwp = a.mutable_data(); dw = a; }
  if (need_db) { FArray a = new_float({s.oc}); dbp = a.mutable_data(); db = a; }
  const float* xp = x.data();
  const float* wp = w.data();
  const float* gp = gy.data();
  {
    py::gil_scoped_release nogil;
    conv::conv_transpose2d_backward(s, xp, wp, gp, dxp, dwp, dbp);
  }
  return py::make_tuple(dx, dw, db);
}

}  // namespace

void register_conv_transpose(py::module_& m) {
  m.def("conv_transpose2d_forward", &conv_transpose2d_forward_py, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("output_padding"),
        py::arg("dilation"), py::arg("groups"),
        "Transposed convolution, NCHW; weight (in_channels, out_channels/groups, kH, kW).");
  m.def("conv_transpose2d_backward", &conv_transpose2d_backward_py, py::arg("x"),
        py::arg("weight"), py::arg("grad_y"), py::arg("stride"), py::arg("padding"),
        py::arg("output_padding"), py::arg("dilation"), py::arg("groups"),
        py::arg("need_dx") = true, py::arg("need_dw") = true, py::arg("need_db") = true,
        "Gradients (dx, dweight, dbias) of conv_transpose2d_forward; None where not needed.");
}

}  // namespace pcn::bind
