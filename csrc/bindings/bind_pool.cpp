// Pooling bindings: strict float32 input, every argument re-checked (ValueError naming it),
// outputs allocated with the GIL held, kernels run with the GIL released.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "common/check.h"
#include "common/shape_checks.h"
#include "common/shapes.h"
#include "pool/pool.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

using Pair = std::array<int64_t, 2>;

std::string pair_str(const Pair& p) { return cat("(", p[0], ", ", p[1], ")"); }
std::string shape_vec_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

// Values this large can only be mistakes; bounding them keeps all size arithmetic exact.
constexpr int64_t kMaxArg = int64_t(1) << 30;

Pair checked_pair(const py::handle& v, const char* name, int64_t minimum) {
  Pair p = pair_arg(v, name);
  PCN_CHECK(p[0] >= minimum && p[1] >= minimum, name, " must be >= ", minimum, ", got ",
            pair_str(p));
  PCN_CHECK(p[0] <= kMaxArg && p[1] <= kMaxArg, name, " ", pair_str(p), " is too large");
  return p;
}

// Validates the pooling geometry and computes the output size (PyTorch's rules).
Pool2dShape pool_shape(const std::array<int64_t, 4>& in, const Pair& k, const Pair& st,
                       const Pair& pad, bool ceil_mode, const char* what) {
  return make_pool_shape(in[0], in[1], in[2], in[3], k[0], k[1], st[0], st[1], pad[0], pad[1],
                         ceil_mode, what);
}

Pool2dShape pool_shape_from(const FArray& x, const py::handle& kernel, const py::handle& stride,
                            const py::handle& padding, bool ceil_mode) {
  Pair k = checked_pair(kernel, "kernel_size", 1);
  Pair st = stride.is_none() ? k : checked_pair(stride, "stride", 1);
  Pair pad = checked_pair(padding, "padding", 0);
  return pool_shape({x.shape(0), x.shape(1), x.shape(2), x.shape(3)}, k, st, pad, ceil_mode, "x");
}

void check_shape(const py::array& a, const char* name, const std::vector<int64_t>& want) {
  PCN_CHECK(shape_of(a) == want, name, " must have shape ", shape_vec_str(want), ", got ",
            shape_str(a));
}

I32Array new_int32(const std::vector<int64_t>& shape) {
  int64_t total = 1;
  for (int64_t d : shape) total = checked_mul(total, d, "indices");
  PCN_CHECK(total <= kMaxElements, "indices of ", total, " elements is too large to allocate");
  return I32Array(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

double norm_type_arg(double p) {
  check_norm_type(p);
  return p;
}

py::object max_pool2d_forward(const py::handle& x_obj, const py::handle& kernel,
                              const py::handle& stride, const py::handle& padding, bool ceil_mode,
                              bool return_indices) {
  FArray x = as_float_nd(x_obj, "x", 4);
  const Pool2dShape s = pool_shape_from(x, kernel, stride, padding, ceil_mode);
  if (return_indices)
    PCN_CHECK(s.h * s.w <= INT32_MAX, "x planes of ", s.h, " x ", s.w,
              " are too large for int32 indices");
  const std::vector<int64_t> oshape{s.n, s.c, s.oh, s.ow};
  FArray y = new_float(oshape);
  I32Array idx;
  if (return_indices) idx = new_int32(oshape);
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    int32_t* ip = return_indices ? idx.mutable_data() : nullptr;
    py::gil_scoped_release nogil;
    pool::max_pool2d_forward(xp, yp, ip, s);
  }
  if (return_indices) return py::make_tuple(y, idx);
  return std::move(y);
}

FArray max_pool2d_backward(const py::handle& gy_obj, const py::handle& idx_obj,
                           const py::handle& input_shape) {
  FArray gy = as_float_nd(gy_obj, "grad_y", 4);
  I32Array idx = as_typed<int32_t>(idx_obj, "indices", "int32");
  const auto in = shape4_arg(input_shape, "input_shape");
  check_shape(idx, "indices", shape_of(gy));
  PCN_CHECK(gy.shape(0) == in[0] && gy.shape(1) == in[1], "grad_y ", shape_str(gy),
            " does not match input_shape (", in[0], ", ", in[1], ", ", in[2], ", ", in[3],
            ") in batch and channels");
  PCN_CHECK(in[2] >= 1 && in[3] >= 1, "input_shape must have non-empty height and width");
  const int64_t in_plane = checked_mul(in[2], in[3], "input_shape");
  const int64_t planes = checked_mul(in[0], in[1], "input_shape");
  const int64_t out_plane = checked_mul(gy.shape(2), gy.shape(3), "grad_y");
  FArray dx = new_float({in[0], in[1], in[2], in[3]});
  int64_t bad;
  {
    const float* gp = gy.data();
    const int32_t* ip = idx.data();
    float* dp = dx.mutable_data();
    py::gil_scoped_release nogil;
    bad = pool::max_pool2d_backward(gp, ip, dp, planes, in_plane, out_plane);
  }
  PCN_CHECK(bad == 0, "indices must lie in [0, H*W) = [0, ", in_plane, "), got ", bad,
            " out-of-range values");
  return dx;
}

FArray avg_pool2d_forward(const py::handle& x_obj, const py::handle& kernel,
                          const py::handle& stride, const py::handle& padding, bool ceil_mode,
                          bool count_include_pad) {
  FArray x = as_float_nd(x_obj, "x", 4);
  const Pool2dShape s = pool_shape_from(x, kernel, stride, padding, ceil_mode);
  FArray y = new_float({s.n, s.c, s.oh, s.ow});
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    pool::avg_pool2d_forward(xp, yp, s, count_include_pad);
  }
  return y;
}

FArray avg_pool2d_backward(const py::handle& gy_obj, const py::handle& input_shape,
                           const py::handle& kernel, const py::handle& stride,
                           const py::handle& padding, bool ceil_mode, bool count_include_pad) {
  FArray gy = as_float_nd(gy_obj, "grad_y", 4);
  const auto in = shape4_arg(input_shape, "input_shape");
  Pair k = checked_pair(kernel, "kernel_size", 1);
  Pair st = stride.is_none() ? k : checked_pair(stride, "stride", 1);
  Pair pad = checked_pair(padding, "padding", 0);
  const Pool2dShape s = pool_shape(in, k, st, pad, ceil_mode, "input_shape");
  check_shape(gy, "grad_y", {s.n, s.c, s.oh, s.ow});
  FArray dx = new_float({in[0], in[1], in[2], in[3]});
  {
    const float* gp = gy.data();
    float* dp = dx.mutable_data();
    py::gil_scoped_release nogil;
    pool::avg_pool2d_backward(gp, dp, s, count_include_pad);
  }
  return dx;
}

FArray lp_pool2d_forward(const py::handle& x_obj, double norm_type, const py::handle& kernel,
                         const py::handle& stride, bool ceil_mode) {
  FArray x = as_float_nd(x_obj, "x", 4);
  const double p = norm_type_arg(norm_type);
  const Pool2dShape s = pool_shape_from(x, kernel, stride, py::int_(0), ceil_mode);
  FArray y = new_float({s.n, s.c, s.oh, s.ow});
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    pool::lp_pool2d_forward(xp, yp, s, p);
  }
  return y;
}

FArray lp_pool2d_backward(const py::handle& x_obj, const py::handle& y_obj,
                          const py::handle& gy_obj, double norm_type, const py::handle& kernel,
                          const py::handle& stride, bool ceil_mode) {
  FArray x = as_float_nd(x_obj, "x", 4);
  FArray y = as_float_nd(y_obj, "y", 4);
  FArray gy = as_float_nd(gy_obj, "grad_y", 4);
  const double p = norm_type_arg(norm_type);
  const Pool2dShape s = pool_shape_from(x, kernel, stride, py::int_(0), ceil_mode);
  check_shape(y, "y", {s.n, s.c, s.oh, s.ow});
  check_shape(gy, "grad_y", {s.n, s.c, s.oh, s.ow});
  FArray dx = new_float({s.n, s.c, s.h, s.w});
  {
    const float* xp = x.data();
    const float* gp = gy.data();
    float* dp = dx.mutable_data();
    py::gil_scoped_release nogil;
    pool::lp_pool2d_backward(xp, gp, dp, s, p);
  }
  return dx;
}

FArray global_avg_pool2d_forward(const py::handle& x_obj) {
  FArray x = as_float_nd(x_obj, "x", 4);
  PCN_CHECK(x.shape(2) >= 1 && x.shape(3) >= 1,
            "x must have non-empty height and width, got shape ", shape_str(x));
  const int64_t planes = checked_mul(x.shape(0), x.shape(1), "x");
  const int64_t hw = checked_mul(x.shape(2), x.shape(3), "x");
  FArray y = new_float({x.shape(0), x.shape(1), 1, 1});
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    py::gil_scoped_release nogil;
    pool::global_avg_pool2d_forward(xp, yp, planes, hw);
  }
  return y;
}

FArray global_avg_pool2d_backward(const py::handle& gy_obj, const py::handle& input_shape) {
  FArray gy = as_float_nd(gy_obj, "grad_y", 4);
  const auto in = shape4_arg(input_shape, "input_shape");
  PCN_CHECK(in[2] >= 1 && in[3] >= 1, "input_shape must have non-empty height and width");
  check_shape(gy, "grad_y", {in[0], in[1], 1, 1});
  const int64_t planes = checked_mul(in[0], in[1], "input_shape");
  const int64_t hw = checked_mul(in[2], in[3], "input_shape");
  FArray dx = new_float({in[0], in[1], in[2], in[3]});
  {
    const float* gp = gy.data();
    float* dp = dx.mutable_data();
    py::gil_scoped_release nogil;
    pool::global_avg_pool2d_backward(gp, dp, planes, hw);
  }
  return dx;
}

}  // namespace

void register_pool(py::module_& m) {
  m.def("max_pool2d_forward", &max_pool2d_forward, py::arg("x"), py::arg("kernel"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
        py::arg("return_indices") = false,
        "Max pooling (NCHW float32) -> y, or (y, indices int32: flat iy*W+ix in the plane).");
  m.def("max_pool2d_backward", &max_pool2d_backward, py::arg("grad_y"), py::arg("indices"),
        py::arg("input_shape"), "Scatter-add grad_y through the forward's indices -> dx.");
  m.def("avg_pool2d_forward", &avg_pool2d_forward, py::arg("x"), py::arg("kernel"),
        py::arg("stride") = py::none(), py::arg("padding") = 0, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, "Average pooling (NCHW float32).");
  m.def("avg_pool2d_backward", &avg_pool2d_backward, py::arg("grad_y"), py::arg("input_shape"),
        py::arg("kernel"), py::arg("stride") = py::none(), py::arg("padding") = 0,
        py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
        "Gradient of avg_pool2d_forward -> dx of input_shape.");
  m.def("lp_pool2d_forward", &lp_pool2d_forward, py::arg("x"), py::arg("norm_type"),
        py::arg("kernel"), py::arg("stride") = py::none(), py::arg("ceil_mode") = false,
        "Power-average pooling: (sum x^p)^(1/p) over each window.");
  m.def("lp_pool2d_backward", &lp_pool2d_backward, py::arg("x"), py::arg("y"),
        py::arg("grad_y"), py::arg("norm_type"), py::arg("kernel"),
        py::arg("stride") = py::none(), py::arg("ceil_mode") = false,
        "Gradient of lp_pool2d_forward -> dx.");
  m.def("global_avg_pool2d_forward", &global_avg_pool2d_forward, py::arg("x"),
        "Mean of each (n, c) plane -> (N, C, 1, 1).");
  m.def("global_avg_pool2d_backward", &global_avg_pool2d_backward, py::arg("grad_y"),
        py::arg("input_shape"), "Gradient of global_avg_pool2d_forward -> dx.");
}

}  // namespace pcn::bind
