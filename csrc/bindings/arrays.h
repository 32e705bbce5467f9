// Strict array access for the bindings: float32, C-contiguous, the expected rank.
// The Python layer converts user input once; these checks make _C safe when called
// directly (TypeError for a wrong dtype/layout, ValueError for a wrong shape).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/check.h"

namespace pcn::bind {

namespace py = pybind11;
using FArray = py::array_t<float, py::array::c_style>;
using I32Array = py::array_t<int32_t, py::array::c_style>;
using I64Array = py::array_t<int64_t, py::array::c_style>;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    if (i) s += ", ";
    s += std::to_string(a.shape(i));
  }
  if (a.ndim() == 1) s += ",";
  return s + ")";
}

// Accepts only a C-contiguous float32 ndarray (no conversion, no copy).
inline FArray as_float(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(cat(name, " must be a numpy.ndarray of float32, got ",
                             std::string(Py_TYPE(obj.ptr())->tp_name)));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().equal(py::dtype::of<float>()))
    throw py::type_error(cat(name, " must have dtype float32, got ",
                             std::string(py::str(arr.dtype()))));
  if (!(arr.flags() & py::array::c_style))
    throw py::type_error(cat(name, " must be C-contiguous (use numpy.ascontiguousarray)"));
  return py::reinterpret_borrow<FArray>(arr);
}

inline FArray as_float_nd(const py::handle& obj, const char* name, int ndim) {
  FArray a = as_float(obj, name);
  PCN_CHECK(a.ndim() == ndim, name, " must be ", ndim, "-D, got shape ", shape_str(a));
  return a;
}

template <class T>
inline py::array_t<T, py::array::c_style> as_typed(const py::handle& obj, const char* name,
                                                   const char* dtype_name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(cat(name, " must be a numpy.ndarray of ", dtype_name));
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().equal(py::dtype::of<T>()))
    throw py::type_error(cat(name, " must have dtype ", dtype_name, ", got ",
                             std::string(py::str(arr.dtype()))));
  if (!(arr.flags() & py::array::c_style))
    throw py::type_error(cat(name, " must be C-contiguous"));
  return py::reinterpret_borrow<py::array_t<T, py::array::c_style>>(arr);
}

// New uninitialised float32 array; the size is checked before allocating.
inline FArray new_float(const std::vector<int64_t>& shape) {
  int64_t total = 1;
  for (int64_t d : shape) {
    PCN_CHECK(d >= 0, "negative dimension in output shape");
    total = checked_mul(total, d, "output");
  }
  PCN_CHECK(total <= kMaxElements, "output of ", total, " elements is too large to allocate");
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  return FArray(s);
}

inline std::vector<int64_t> shape_of(const py::array& a) {
  std::vector<int64_t> s(a.ndim());
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s[i] = a.shape(i);
  return s;
}

// An (h, w) pair from a Python int or a 2-sequence.
inline std::array<int64_t, 2> pair_arg(const py::handle& v, const char* name) {
  if (py::isinstance<py::int_>(v) && !py::isinstance<py::bool_>(v)) {
    int64_t x = v.cast<int64_t>();
    return {x, x};
  }
  if (py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v)) {
    auto seq = py::reinterpret_borrow<py::sequence>(v);
    if (seq.size() == 2) {
      auto a = seq[0], b = seq[1];
      if (py::isinstance<py::int_>(a) && py::isinstance<py::int_>(b) &&
          !py::isinstance<py::bool_>(a) && !py::isinstance<py::bool_>(b))
        return {a.cast<int64_t>(), b.cast<int64_t>()};
    }
  }
  throw py::type_error(cat(name, " must be an int or a pair of ints"));
}

}  // namespace pcn::bind
