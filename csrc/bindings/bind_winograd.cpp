// _C.winograd_conv2d, _C.WinogradConv2d (filters transformed once, as the serving engine
// holds them; F(4x4, 3x3) or F(2x2, 3x3) by output_tile) and _C.winograd_applies / _C.winograd_pays (the shape rule and the speed rule).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <optional>

#include "bindings/arrays.h"
#include "bindings/conv_args.h"
#include "common/shape_checks.h"
#include "common/shapes.h"
#include "conv/conv_plan.h"
#include "conv/winograd.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

void check_weight(const FArray& w) {
  PCN_CHECK(w.ndim() == 4 && w.shape(2) == 3 && w.shape(3) == 3,
            "weight must have shape (out_channels, in_channels, 3, 3), got ", shape_str(w));
  PCN_CHECK(w.shape(0) >= 1 && w.shape(1) >= 1,
            "weight must have at least one input and one output channel, got ", shape_str(w));
}

// The layer's shape for x; the messages name the offending argument.
Conv2dShape layer_shape(const FArray& x, int64_t in_channels, int64_t out_channels,
                        const std::array<int64_t, 4>& pad) {
  PCN_CHECK(x.ndim() == 4, "x must be 4-D (N, C, H, W), got shape ", shape_str(x));
  PCN_CHECK(x.shape(1) == in_channels, "x has ", x.shape(1),
            " channels but the weight expects ", in_channels);
  Conv2dShape s{};
  s.n = x.shape(0); s.c = x.shape(1); s.h = x.shape(2); s.w = x.shape(3);
  s.oc = out_channels; s.kh = 3; s.kw = 3;
  s.sh = s.sw = s.dh = s.dw = s.groups = 1;
  s.pt = pad[0]; s.pl = pad[1]; s.pb = pad[2]; s.pr = pad[3];
  finish_conv_shape(s);
  return s;
}

const float* bias_arg(const py::handle& b_obj, int64_t oc, FArray& keep) {
  if (b_obj.is_none()) return nullptr;
  keep = as_float(b_obj, "bias");
  PCN_CHECK(keep.ndim() == 1 && keep.shape(0) == oc, "bias must have shape (", oc, ",), got ",
            shape_str(keep));
  return keep.data();
}

// output_tile m of F(m x m, 3x3): 4 or 2.
conv::WinogradVariant variant_arg(int64_t output_tile) {
  PCN_CHECK(output_tile == 4 || output_tile == 2, "output_tile must be 4 or 2, got ", output_tile);
  return output_tile == 4 ? conv::WinogradVariant::f4x4 : conv::WinogradVariant::f2x2;
}

// Filters transformed once; each call runs winograd_forward on a batch.
class WinogradConv2d {
 public:
  WinogradConv2d(py::handle w_obj, py::handle b_obj, int64_t output_tile) {
    const conv::WinogradVariant variant = variant_arg(output_tile);
    FArray w = as_float(w_obj, "weight");
    check_weight(w);
    Conv2dShape s{};
    s.c = w.shape(1); s.oc = w.shape(0); s.kh = s.kw = 3;
    s.sh = s.sw = s.dh = s.dw = s.groups = 1;
    const float* bp = bias_arg(b_obj, s.oc, bias_);
    has_bias_ = bp != nullptr;
    const float* wp = w.data();
    py::gil_scoped_release nogil;
    u_ = std::make_unique<conv::WinogradWeights>(s, wp, variant);
  }

  int64_t output_tile() const { return conv::winograd_out(u_->variant()); }

  FArray forward(py::handle x_obj, py::handle padding, bool relu) const {
    FArray x = as_float(x_obj, "x");
    const Conv2dShape s = layer_shape(x, u_->in_channels(), u_->out_channels(),
                                      padding4_arg(padding));
    FArray y = new_float({s.n, s.oc, s.oh, s.ow});
    const float* xp = x.data();
    const float* bp = has_bias_ ? bias_.data() : nullptr;
    float* yp = y.mutable_data();
    {
      py::gil_scoped_release nogil;
      conv::winograd_forward(s, xp, *u_, bp, yp, relu);
    }
    return y;
  }

 private:
  std::unique_ptr<conv::WinogradWeights> u_;
  FArray bias_;
  bool has_bias_ = false;
};

FArray winograd_conv2d_py(py::handle x_obj, py::handle w_obj, py::handle b_obj,
                          py::handle padding, bool relu, int64_t output_tile) {
  as_float(x_obj, "x");  // type errors name x before the weight is transformed
  return WinogradConv2d(w_obj, b_obj, output_tile).forward(x_obj, padding, relu);
}

// The shape for the rule functions, from plain shapes and layer arguments.
Conv2dShape rule_shape(py::handle x_shape, py::handle w_shape, py::handle stride,
                       py::handle padding, py::handle dilation, py::handle groups) {
  return described_conv_shape(x_shape, w_shape, stride, padding, dilation, groups);
}

}  // namespace

void register_winograd(py::module_& m) {
  m.def("winograd_conv2d", &winograd_conv2d_py, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("padding") = std::array<int64_t, 4>{0, 0, 0, 0},
        py::arg("relu") = false, py::arg("output_tile") = 4,
        "3x3 stride-1 convolution by Winograd F(m x m, 3x3), m = output_tile (4 or 2), NCHW / "
        "OIHW; padding is (top, left, bottom, right). Transforms the weight on every call (tests).");
  py::class_<WinogradConv2d>(m, "WinogradConv2d",
                             "A 3x3 stride-1 layer with its filters transformed once.")
      .def(py::init<py::handle, py::handle, int64_t>(), py::arg("weight"), py::arg("bias"),
           py::arg("output_tile") = 4)
      .def_property_readonly("output_tile", &WinogradConv2d::output_tile)
      .def("forward", &WinogradConv2d::forward, py::arg("x"),
           py::arg("padding") = std::array<int64_t, 4>{0, 0, 0, 0}, py::arg("relu") = false);
  m.def(
      "winograd_applies",
      [](py::handle xs, py::handle ws, py::handle st, py::handle pd, py::handle di, py::handle g) {
        return conv::winograd_applies(rule_shape(xs, ws, st, pd, di, g));
      },
      py::arg("x_shape"), py::arg("weight_shape"), py::arg("stride") = 1,
      py::arg("padding") = std::array<int64_t, 4>{0, 0, 0, 0}, py::arg("dilation") = 1,
      py::arg("groups") = 1, "Whether winograd_conv2d covers this layer.");
  m.def(
      "winograd_pays",
      [](py::handle xs, py::handle ws, py::handle st, py::handle pd, py::handle di, py::handle g) {
        return conv::winograd_pays(rule_shape(xs, ws, st, pd, di, g), current_isa());
      },
      py::arg("x_shape"), py::arg("weight_shape"), py::arg("stride") = 1,
      py::arg("padding") = std::array<int64_t, 4>{0, 0, 0, 0}, py::arg("dilation") = 1,
      py::arg("groups") = 1,
      "Whether the Winograd path beats conv2d_forward for this layer on the current tier.");
}

}  // namespace pcn::bind
