// TEMPORARY (not committed)
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <memory>
#include "bindings/arrays.h"
#include "linear/packed_linear.h"
namespace py = pybind11;
namespace pcn::bind {
void register_packed_linear(py::module_& m) {
  py::class_<linear::PackedLinear, std::shared_ptr<linear::PackedLinear>>(m, "PackedLinear")
      .def(py::init([](py::handle w, py::handle b, const std::string& p) {
        FArray wa = as_float_nd(w, "weight", 2);
        FArray ba; const float* bp = nullptr;
        if (!b.is_none()) { ba = as_float_nd(b, "bias", 1); bp = ba.data(); }
        return std::make_shared<linear::PackedLinear>(wa.shape(1), wa.shape(0), wa.data(), bp,
            p == "bf16" ? linear::Precision::bf16 : linear::Precision::fp32);
      }), py::arg("weight"), py::arg("bias"), py::arg("precision") = "fp32")
      .def("unpack", [](const linear::PackedLinear& l) { FArray w = new_float({l.out(), l.in()}); l.unpack(w.mutable_data()); return w; })
      .def_property_readonly("nbytes", &linear::PackedLinear::bytes)
      .def("kernel_name", &linear::PackedLinear::kernel_name);
}
}
