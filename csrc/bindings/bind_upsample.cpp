// _C.upsample2d_forward / _C.upsample2d_backward (nearest and bilinear interpolation).
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>

#include "bindings/arrays.h"
#include "upsample/upsample.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

upsample::Mode mode_arg(const std::string& mode) {
  if (mode == "nearest") return upsample::Mode::nearest;
  if (mode == "bilinear") return upsample::Mode::bilinear;
  throw std::invalid_argument(cat("mode must be 'nearest' or 'bilinear', got '", mode, "'"));
}

// (scale_h, scale_w) from None (0, 0: the size was given) or a pair of finite numbers > 0.
std::array<double, 2> scale_arg(const py::handle& v) {
  if (v.is_none()) return {0.0, 0.0};
  if (py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v)) {
    auto seq = py::reinterpret_borrow<py::sequence>(v);
    if (seq.size() == 2 && !py::isinstance<py::bool_>(seq[0]) && !py::isinstance<py::bool_>(seq[1]) &&
        (py::isinstance<py::float_>(seq[0]) || py::isinstance<py::int_>(seq[0])) &&
        (py::isinstance<py::float_>(seq[1]) || py::isinstance<py::int_>(seq[1]))) {
      const std::array<double, 2> s{seq[0].cast<double>(), seq[1].cast<double>()};
      PCN_CHECK(std::isfinite(s[0]) && std::isfinite(s[1]) && s[0] > 0 && s[1] > 0,
                "scale_factor must be finite and > 0, got (", s[0], ", ", s[1], ")");
      return s;
    }
  }
  throw py::type_error("scale_factor must be None or a pair of numbers");
}

upsample::Upsample2d make(int64_t n, int64_t c, int64_t h, int64_t w, const py::handle& size,
                          const py::handle& scale_factor, const std::string& mode,
                          bool align_corners, const char* what) {
  PCN_CHECK(h >= 1 && w >= 1, what, " must have non-empty height and width, got (", h, ", ", w, ")");
  const auto out = pair_arg(size, "size");
  PCN_CHECK(out[0] >= 1 && out[1] >= 1, "size must be >= 1, got (", out[0], ", ", out[1], ")");
  const auto sc = scale_arg(scale_factor);
  const upsample::Mode m = mode_arg(mode);
  PCN_CHECK(!(align_corners && m == upsample::Mode::nearest),
            "align_corners=True needs mode 'bilinear', got mode 'nearest'");
  checked_mul(checked_mul(checked_mul(n, c, "x"), h, "x"), w, "x");
  return {checked_mul(n, c, "x"), h, w, out[0], out[1], m, align_corners, sc[0], sc[1]};
}

FArray upsample2d_forward_py(py::handle x_obj, py::handle size, py::handle scale_factor,
                             const std::string& mode, bool align_corners) {
  FArray x = as_float_nd(x_obj, "x", 4);
  const upsample::Upsample2d u = make(x.shape(0), x.shape(1), x.shape(2), x.shape(3), size,
                                      scale_factor, mode, align_corners, "x");
  FArray y = new_float({x.shape(0), x.shape(1), u.oh, u.ow});
  const float* xp = x.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    upsample::upsample2d_forward(u, xp, yp);
  }
  return y;
}

FArray upsample2d_backward_py(py::handle gy_obj, py::handle input_size, py::handle size,
                              py::handle scale_factor, const std::string& mode, bool align_corners) {
  FArray gy = as_float_nd(gy_obj, "grad_y", 4);
  const auto in = pair_arg(input_size, "input_size");
  const upsample::Upsample2d u = make(gy.shape(0), gy.shape(1), in[0], in[1], size, scale_factor,
                                      mode, align_corners, "input_size");
  PCN_CHECK(gy.shape(2) == u.oh && gy.shape(3) == u.ow, "grad_y must have the output size (", u.oh,
            ", ", u.ow, "), got shape ", shape_str(gy));
  FArray dx = new_float({gy.shape(0), gy.shape(1), in[0], in[1]});
  const float* gp = gy.data();
  float* dp = dx.mutable_data();
  {
    py::gil_scoped_release nogil;
    upsample::upsample2d_backward(u, gp, dp);
  }
  return dx;
}

}  // namespace

void register_upsample(py::module_& m) {
  m.def("upsample2d_forward", &upsample2d_forward_py, py::arg("x"), py::arg("size"),
        py::arg("scale_factor"), py::arg("mode"), py::arg("align_corners"),
        "Nearest/bilinear interpolation of NCHW x to size (oh, ow); scale_factor (sh, sw) or None "
        "sets the sampling scale as PyTorch does.");
  m.def("upsample2d_backward", &upsample2d_backward_py, py::arg("grad_y"), py::arg("input_size"),
        py::arg("size"), py::arg("scale_factor"), py::arg("mode"), py::arg("align_corners"),
        "Gradient of upsample2d_forward -> dx (N, C, *input_size).");
}

}  // namespace pcn::bind
