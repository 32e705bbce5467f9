// global_max_pool2d forward/backward (NCHW float32; pool/global_max_pool2d.h).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "bindings/arrays.h"
#include "pool/global_max_pool2d.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

py::object forward(const py::handle& xo, bool return_indices) {
  FArray x = as_float_nd(xo, "x", 4);
  PCN_CHECK(x.shape(2) >= 1 && x.shape(3) >= 1, "x must have non-empty height and width, got shape ",
            shape_str(x));
  const int64_t planes = checked_mul(x.shape(0), x.shape(1), "x");
  const int64_t hw = checked_mul(x.shape(2), x.shape(3), "x");
  FArray y = new_float({x.shape(0), x.shape(1), 1, 1});
  I64Array idx(std::vector<py::ssize_t>{return_indices ? static_cast<py::ssize_t>(planes) : 0});
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    int64_t* ip = return_indices ? idx.mutable_data() : nullptr;
    py::gil_scoped_release nogil;
    pool::global_max_pool2d_forward(xp, yp, ip, planes, hw);
  }
  if (return_indices) return py::make_tuple(y, idx);
  return std::move(y);
}

FArray backward(const py::handle& go, const py::handle& io, const std::vector<int64_t>& in) {
  FArray g = as_float_nd(go, "grad_y", 4);
  auto idx = as_typed<int64_t>(io, "indices", "int64");
  PCN_CHECK(in.size() == 4, "input_shape must have 4 entries (N, C, H, W)");
  for (int64_t d : in) PCN_CHECK(d >= 0, "input_shape must not be negative");
  PCN_CHECK(in[2] >= 1 && in[3] >= 1, "input_shape must have non-empty height and width");
  PCN_CHECK(g.shape(0) == in[0] && g.shape(1) == in[1] && g.shape(2) == 1 && g.shape(3) == 1,
            "grad_y shape ", shape_str(g), " does not match (N, C, 1, 1) of input_shape");
  const int64_t planes = checked_mul(in[0], in[1], "input_shape");
  const int64_t hw = checked_mul(in[2], in[3], "input_shape");
  PCN_CHECK(idx.ndim() == 1 && idx.shape(0) == planes, "indices must have N * C = ", planes,
            " entries");
  const int64_t* ip = idx.data();
  for (int64_t p = 0; p < planes; ++p)
    PCN_CHECK(ip[p] >= 0 && ip[p] < hw, "indices[", p, "] = ", ip[p], " is outside the plane");
  FArray dx = new_float(in);
  {
    const float* gp = g.data();
    float* dp = dx.mutable_data();
    py::gil_scoped_release nogil;
    pool::global_max_pool2d_backward(gp, ip, dp, planes, hw);
  }
  return dx;
}

}  // namespace

void register_global_max_pool(py::module_& m) {
  m.def("global_max_pool2d_forward", &forward, py::arg("x"), py::arg("return_indices") = false,
        "Max of each (n, c) plane -> (N, C, 1, 1), or (y, indices int64 of the first maximum).");
  m.def("global_max_pool2d_backward", &backward, py::arg("grad_y"), py::arg("indices"),
        py::arg("input_shape"), "Gradient of global_max_pool2d_forward -> dx.");
}

}  // namespace pcn::bind
