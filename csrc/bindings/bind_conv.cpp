// _C.conv2d_forward / _C.conv2d_backward.
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "common/shape_checks.h"
#include "common/shapes.h"
#include "conv/conv2d.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

std::array<int64_t, 4> padding4(const py::handle& v) {
  if (py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v)) {
    auto seq = py::reinterpret_borrow<py::sequence>(v);
    if (seq.size() == 4) {
      std::array<int64_t, 4> p{};
      for (size_t i = 0; i < 4; ++i) {
        if (!py::isinstance<py::int_>(seq[i]))
          throw py::type_error("padding must be 4 ints (top, left, bottom, right)");
        p[i] = seq[i].cast<int64_t>();
      }
      return p;
    }
  }
  throw py::type_error("padding must be 4 ints (top, left, bottom, right)");
}

// Validates everything and fills the shape; the message names the offending argument.
Conv2dShape conv_shape(const FArray& x, const FArray& w, const py::handle& stride,
                       const py::handle& padding, const py::handle& dilation, int64_t groups) {
  PCN_CHECK(x.ndim() == 4, "x must be 4-D (N, C, H, W), got shape ", shape_str(x));
  PCN_CHECK(w.ndim() == 4, "weight must be 4-D (out_channels, in_channels/groups, kH, kW), got shape ",
            shape_str(w));
  auto st = pair_arg(stride, "stride");
  auto di = pair_arg(dilation, "dilation");
  auto pd = padding4(padding);
  Conv2dShape s{};
  s.n = x.shape(0); s.c = x.shape(1); s.h = x.shape(2); s.w = x.shape(3);
  s.oc = w.shape(0); s.kh = w.shape(2); s.kw = w.shape(3);
  s.sh = st[0]; s.sw = st[1]; s.dh = di[0]; s.dw = di[1];
  s.pt = pd[0]; s.pl = pd[1]; s.pb = pd[2]; s.pr = pd[3];
  s.groups = groups;
  finish_conv_shape(s);
  PCN_CHECK(w.shape(1) == s.c / groups, "weight has shape ", shape_str(w), " but x has ", s.c,
            " channels and groups=", groups, ": expected weight.shape[1] == ", s.c / groups);
  return s;
}

FArray conv2d_forward_py(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                         py::handle stride, py::handle padding, py::handle dilation,
                         int64_t groups, bool relu) {
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
                             int64_t groups, bool need_dx, bool need_dw, bool need_db) {
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
}

}  // namespace pcn::bind
