// Merge kernels of graph models: add, multiply, concat (forward and backward).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bindings/arrays.h"
#include "merge/merge.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

// The arrays of a non-empty Python list or tuple, each strictly float32 and C-contiguous.
std::vector<FArray> as_float_list(const py::handle& obj, const char* name) {
  PCN_CHECK(py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj), name,
            " must be a list of float32 arrays");
  auto seq = py::reinterpret_borrow<py::sequence>(obj);
  PCN_CHECK(seq.size() >= 1, name, " must hold at least one array");
  std::vector<FArray> out;
  out.reserve(seq.size());
  for (size_t k = 0; k < seq.size(); ++k) {
    std::string item = cat(name, "[", k, "]");
    out.push_back(as_float(seq[k], item.c_str()));
  }
  return out;
}

void check_same_shapes(const std::vector<FArray>& xs, const char* name) {
  for (size_t k = 1; k < xs.size(); ++k) {
    bool same = xs[k].ndim() == xs[0].ndim();
    for (py::ssize_t d = 0; same && d < xs[0].ndim(); ++d) same = xs[k].shape(d) == xs[0].shape(d);
    PCN_CHECK(same, name, " must all have the same shape, got ", shape_str(xs[0]), " and ",
              shape_str(xs[k]), " (", name, "[", k, "])");
  }
}

std::vector<const float*> pointers(const std::vector<FArray>& xs) {
  std::vector<const float*> p;
  for (const auto& x : xs) p.push_back(x.data());
  return p;
}

template <class Kernel>
FArray fold(const py::handle& obj, Kernel kernel) {
  auto xs = as_float_list(obj, "inputs");
  check_same_shapes(xs, "inputs");
  FArray y = new_float(shape_of(xs[0]));
  auto ptrs = pointers(xs);
  float* yp = y.mutable_data();
  const int64_t size = xs[0].size();
  {
    py::gil_scoped_release nogil;
    kernel(ptrs.data(), static_cast<int64_t>(ptrs.size()), size, yp);
  }
  return y;
}

py::list multiply_backward(const py::handle& go, const py::handle& obj) {
  auto xs = as_float_list(obj, "inputs");
  check_same_shapes(xs, "inputs");
  FArray g = as_float(go, "grad_y");
  PCN_CHECK(shape_of(g) == shape_of(xs[0]), "grad_y has shape ", shape_str(g), ", expected ",
            shape_str(xs[0]), " (the shape of the inputs)");
  std::vector<FArray> dxs;
  std::vector<float*> out;
  for (size_t k = 0; k < xs.size(); ++k) {
    dxs.push_back(new_float(shape_of(xs[0])));
    out.push_back(dxs.back().mutable_data());
  }
  auto ptrs = pointers(xs);
  const float* gp = g.data();
  const int64_t n = static_cast<int64_t>(xs.size()), size = g.size();
  {
    py::gil_scoped_release nogil;
    for (int64_t k = 0; k < n; ++k) merge::multiply_backward(gp, ptrs.data(), n, k, size, out[k]);
  }
  py::list result;
  for (auto& d : dxs) result.append(d);
  return result;
}

// Axis in [0, ndim) from a possibly negative one.
int64_t norm_axis(int64_t axis, int64_t ndim) {
  PCN_CHECK(axis >= -ndim && axis < ndim, "axis ", axis, " is out of range for ", ndim, "-D inputs");
  return axis < 0 ? axis + ndim : axis;
}

// (outer, inner) of a C-contiguous shape around `axis`.
void outer_inner(const std::vector<int64_t>& shape, int64_t axis, int64_t& outer, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer = checked_mul(outer, shape[d], "concat");
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner = checked_mul(inner, shape[d], "concat");
}

FArray concat_forward(const py::handle& obj, int64_t axis) {
  auto xs = as_float_list(obj, "inputs");
  const int64_t ndim = xs[0].ndim();
  PCN_CHECK(ndim >= 1, "inputs must be at least 1-D to concatenate");
  axis = norm_axis(axis, ndim);
  std::vector<int64_t> out_shape = shape_of(xs[0]);
  out_shape[axis] = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    bool same = xs[k].ndim() == ndim;
    for (int64_t d = 0; same && d < ndim; ++d) same = d == axis || xs[k].shape(d) == xs[0].shape(d);
    PCN_CHECK(same, "inputs must have the same shape except on axis ", axis, ", got ", shape_str(xs[0]),
              " and ", shape_str(xs[k]), " (inputs[", k, "])");
    out_shape[axis] = checked_add(out_shape[axis], xs[k].shape(axis), "concat output");
  }
  FArray y = new_float(out_shape);
  int64_t outer, inner;
  outer_inner(out_shape, axis, outer, inner);
  std::vector<int64_t> widths;
  for (const auto& x : xs) widths.push_back(x.shape(axis) * inner);
  auto ptrs = pointers(xs);
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    merge::concat_forward(ptrs.data(), widths.data(), static_cast<int64_t>(ptrs.size()), outer, yp);
  }
  return y;
}

py::list concat_backward(const py::handle& go, const std::vector<int64_t>& sizes, int64_t axis) {
  FArray g = as_float(go, "grad_y");
  const int64_t ndim = g.ndim();
  PCN_CHECK(ndim >= 1, "grad_y must be at least 1-D");
  axis = norm_axis(axis, ndim);
  PCN_CHECK(!sizes.empty(), "sizes must hold at least one size");
  int64_t sum = 0;
  for (int64_t s : sizes) {
    PCN_CHECK(s >= 0, "sizes must be >= 0, got ", s);
    sum = checked_add(sum, s, "sizes");
  }
  PCN_CHECK(sum == g.shape(axis), "sizes add up to ", sum, " but grad_y has ", g.shape(axis),
            " entries on axis ", axis);
  std::vector<int64_t> shape = shape_of(g);
  int64_t outer, inner;
  outer_inner(shape, axis, outer, inner);
  std::vector<FArray> dxs;
  std::vector<float*> out;
  std::vector<int64_t> widths;
  for (int64_t s : sizes) {
    shape[axis] = s;
    dxs.push_back(new_float(shape));
    out.push_back(dxs.back().mutable_data());
    widths.push_back(s * inner);
  }
  const float* gp = g.data();
  {
    py::gil_scoped_release nogil;
    merge::concat_backward(gp, widths.data(), static_cast<int64_t>(widths.size()), outer, out.data());
  }
  py::list result;
  for (auto& d : dxs) result.append(d);
  return result;
}

}  // namespace

void register_merge(py::module_& m) {
  m.def("add_forward", [](py::handle xs) { return fold(xs, merge::add_forward); }, py::arg("inputs"),
        "Element-wise sum of same-shaped float32 arrays, added in list order.");
  m.def("multiply_forward", [](py::handle xs) { return fold(xs, merge::multiply_forward); },
        py::arg("inputs"), "Element-wise product of same-shaped float32 arrays, in list order.");
  m.def("multiply_backward", &multiply_backward, py::arg("grad_y"), py::arg("inputs"),
        "Gradients of the product: [grad_y * prod(inputs[j] for j != k) for each k].");
  m.def("concat_forward", &concat_forward, py::arg("inputs"), py::arg("axis"),
        "Concatenation along axis (shapes must agree on every other axis).");
  m.def("concat_backward", &concat_backward, py::arg("grad_y"), py::arg("sizes"), py::arg("axis"),
        "grad_y split along axis into pieces of the given sizes (copies).");
}

}  // namespace pcn::bind
