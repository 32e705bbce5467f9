// Strict array access for the bindings: float32, C-contiguous, the expected rank.
// The Python layer converts user input once; these checks make _C safe when called
// directly (TypeError for a wrong dtype/layout, ValueError for a wrong shape).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <optional>
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

// An integer argument: a Python int or anything with __index__ (NumPy ints), not a bool.
// Nullopt when v is none of these; ValueError naming `name` when it does not fit int64.
inline std::optional<int64_t> index_arg(const py::handle& v, const char* name) {
  if (py::isinstance<py::bool_>(v) || py::isinstance<py::float_>(v) || !PyIndex_Check(v.ptr()))
    return std::nullopt;
  py::object i = py::reinterpret_steal<py::object>(PyNumber_Index(v.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  PCN_CHECK(!overflow, name, " must fit in 64 bits, got ", std::string(py::str(i)));
  return static_cast<int64_t>(x);
}

// N ints from a sequence of N integer arguments; TypeError with `what` otherwise.
template <size_t N>
std::array<int64_t, N> ints_arg(const py::handle& v, const char* name, const char* what) {
  if (py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v)) {
    auto seq = py::reinterpret_borrow<py::sequence>(v);
    if (seq.size() == N) {
      std::array<int64_t, N> out{};
      for (size_t i = 0; i < N; ++i) {
        const auto x = index_arg(seq[i], name);
        if (!x) throw py::type_error(cat(name, " must be ", what));
        out[i] = *x;
      }
      return out;
    }
  }
  throw py::type_error(cat(name, " must be ", what));
}

// An (h, w) pair from an int or a 2-sequence of ints.
inline std::array<int64_t, 2> pair_arg(const py::handle& v, const char* name) {
  if (const auto x = index_arg(v, name)) return {*x, *x};
  return ints_arg<2>(v, name, "an int or a pair of ints");
}

// Convolution padding (top, left, bottom, right); its values are checked with the shape
// (finish_conv_shape).
inline std::array<int64_t, 4> padding4_arg(const py::handle& v) {
  return ints_arg<4>(v, "padding", "4 ints (top, left, bottom, right)");
}

// (N, C, H, W) of an input that is described, not passed: sizes in [0, 2^32].
inline std::array<int64_t, 4> shape4_arg(const py::handle& v, const char* name) {
  const auto s = ints_arg<4>(v, name, "a sequence of 4 ints (N, C, H, W)");
  for (int64_t d : s)
    PCN_CHECK(d >= 0 && d <= kMaxElements, name, " must hold sizes in [0, 2^32], got (", s[0], ", ",
              s[1], ", ", s[2], ", ", s[3], ")");
  return s;
}

}  // namespace pcn::bind
