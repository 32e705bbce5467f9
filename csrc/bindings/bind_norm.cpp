// BatchNorm2d bindings: strict float32 input, shapes re-checked, GIL released in the kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <optional>
#include <vector>

#include "bindings/arrays.h"
#include "common/check.h"
#include "norm/batch_norm2d.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

// A (C,) float32 vector, or None when `optional`.
std::optional<FArray> channel_vec(const py::handle& v, const char* name, int64_t c,
                                  bool optional) {
  if (v.is_none()) {
    PCN_CHECK(optional, name, " must be a float32 array of shape (", c, ",), got None");
    return std::nullopt;
  }
  FArray a = as_float(v, name);
  PCN_CHECK(a.ndim() == 1 && a.shape(0) == c, name, " must have shape (", c,
            ",) (one value per channel of x), got ", shape_str(a));
  return a;
}

const float* ptr(const std::optional<FArray>& a) { return a ? a->data() : nullptr; }

double eps_arg(double eps) {
  PCN_CHECK(std::isfinite(eps) && eps >= 0.0, "eps must be a finite number >= 0, got ", eps);
  return eps;
}

norm::BatchNormShape bn_shape(const FArray& x) {
  norm::BatchNormShape s;
  s.n = x.shape(0);
  s.c = x.shape(1);
  s.hw = checked_mul(x.shape(2), x.shape(3), "x");
  checked_mul(checked_mul(s.n, s.c, "x"), s.hw, "x");
  return s;
}

py::tuple forward_train(const py::handle& x_obj, const py::handle& w_obj, const py::handle& b_obj,
                        double eps) {
  FArray x = as_float_nd(x_obj, "x", 4);
  const norm::BatchNormShape s = bn_shape(x);
  PCN_CHECK(checked_mul(s.n, s.hw, "x") > 1,
            "Expected more than 1 value per channel when training, got x of shape ",
            shape_str(x));
  auto w = channel_vec(w_obj, "weight", s.c, true);
  auto b = channel_vec(b_obj, "bias", s.c, true);
  eps = eps_arg(eps);
  FArray y = new_float(shape_of(x));
  FArray mean = new_float({s.c}), invstd = new_float({s.c}), var = new_float({s.c});
  {
    const float *xp = x.data(), *wp = ptr(w), *bp = ptr(b);
    float *yp = y.mutable_data(), *mp = mean.mutable_data(), *ip = invstd.mutable_data(),
          *vp = var.mutable_data();
    py::gil_scoped_release nogil;
    norm::batch_norm2d_forward_train(xp, wp, bp, yp, mp, ip, vp, s, eps);
  }
  return py::make_tuple(y, mean, invstd, var);
}

FArray forward_eval(const py::handle& x_obj, const py::handle& w_obj, const py::handle& b_obj,
                    const py::handle& rm_obj, const py::handle& rv_obj, double eps) {
  FArray x = as_float_nd(x_obj, "x", 4);
  const norm::BatchNormShape s = bn_shape(x);
  auto w = channel_vec(w_obj, "weight", s.c, true);
  auto b = channel_vec(b_obj, "bias", s.c, true);
  auto rm = channel_vec(rm_obj, "running_mean", s.c, false);
  auto rv = channel_vec(rv_obj, "running_var", s.c, false);
  eps = eps_arg(eps);
  FArray y = new_float(shape_of(x));
  {
    const float *xp = x.data(), *wp = ptr(w), *bp = ptr(b), *mp = ptr(rm), *vp = ptr(rv);
    float* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    norm::batch_norm2d_forward_eval(xp, wp, bp, mp, vp, yp, s, eps);
  }
  return y;
}

py::tuple backward(const py::handle& x_obj, const py::handle& gy_obj, const py::handle& w_obj,
                   const py::handle& mean_obj, const py::handle& invstd_obj) {
  FArray x = as_float_nd(x_obj, "x", 4);
  FArray gy = as_float_nd(gy_obj, "grad_y", 4);
  PCN_CHECK(shape_of(gy) == shape_of(x), "grad_y must have the shape of x ", shape_str(x),
            ", got ", shape_str(gy));
  const norm::BatchNormShape s = bn_shape(x);
  auto w = channel_vec(w_obj, "weight", s.c, true);
  auto m = channel_vec(mean_obj, "batch_mean", s.c, false);
  auto inv = channel_vec(invstd_obj, "batch_invstd", s.c, false);
  FArray dx = new_float(shape_of(x));
  FArray dw = new_float({s.c}), db = new_float({s.c});
  {
    const float *xp = x.data(), *gp = gy.data(), *wp = ptr(w), *mp = ptr(m), *ip = ptr(inv);
    float *dxp = dx.mutable_data(), *dwp = dw.mutable_data(), *dbp = db.mutable_data();
    py::gil_scoped_release nogil;
    norm::batch_norm2d_backward(xp, gp, wp, mp, ip, dxp, dwp, dbp, s);
  }
  return py::make_tuple(dx, dw, db);
}

}  // namespace

void register_norm(py::module_& m) {
  m.def("batch_norm2d_forward_train", &forward_train, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("eps") = 1e-5,
        "BatchNorm2d with batch statistics -> (y, batch_mean, batch_invstd, "
        "batch_var_unbiased). weight/bias may be None.");
  m.def("batch_norm2d_forward_eval", &forward_eval, py::arg("x"), py::arg("weight"),
        py::arg("bias"), py::arg("running_mean"), py::arg("running_var"), py::arg("eps") = 1e-5,
        "BatchNorm2d with running statistics -> y.");
  m.def("batch_norm2d_backward", &backward, py::arg("x"), py::arg("grad_y"), py::arg("weight"),
        py::arg("batch_mean"), py::arg("batch_invstd"),
        "Gradient of the training forward -> (dx, dweight, dbias).");
}

}  // namespace pcn::bind
