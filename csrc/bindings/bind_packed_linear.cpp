// _C.PackedLinear (the frozen fully connected layer for serving) and _C.round_to_bf16.
#include <pybind11/pybind11.h>

#include <memory>

#include "bindings/arrays.h"
#include "common/bf16.h"
#include "linear/packed_linear.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

using linear::PackedLinear;
using linear::Precision;

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::fp32;
  if (s == "bf16") return Precision::bf16;
  throw std::invalid_argument(cat("precision must be 'fp32' or 'bf16', got '", s, "'"));
}

std::shared_ptr<PackedLinear> make(py::handle w_obj, py::handle b_obj, const std::string& prec) {
  const Precision p = parse_precision(prec);
  FArray w = as_float(w_obj, "weight");
  PCN_CHECK(w.ndim() == 2, "weight must be 2-D (out_features, in_features), got shape ",
            shape_str(w));
  const int64_t out = w.shape(0), in = w.shape(1);
  FArray bias;
  const float* bp = nullptr;
  if (!b_obj.is_none()) {
    bias = as_float(b_obj, "bias");
    PCN_CHECK(bias.ndim() == 1 && bias.shape(0) == out, "bias must have shape (", out, ",), got ",
              shape_str(bias));
    bp = bias.data();
  }
  const float* wp = w.data();
  py::gil_scoped_release nogil;
  return std::make_shared<PackedLinear>(in, out, wp, bp, p);
}

FArray forward_py(const PackedLinear& self, py::handle x_obj, bool relu) {
  FArray x = as_float(x_obj, "x");
  PCN_CHECK(x.ndim() == 2, "x must be 2-D (N, in_features), got shape ", shape_str(x));
  PCN_CHECK(x.shape(1) == self.in(), "x has ", x.shape(1), " features but the layer expects ",
            self.in());
  const int64_t m = x.shape(0);
  FArray y = new_float({m, self.out()});
  const float* xp = x.data();
  float* yp = y.mutable_data();
  {
    py::gil_scoped_release nogil;
    self.forward(m, xp, yp, relu);
  }
  return y;
}

FArray unpack_py(const PackedLinear& self) {
  FArray w = new_float({self.out(), self.in()});
  float* wp = w.mutable_data();
  py::gil_scoped_release nogil;
  self.unpack(wp);
  return w;
}

FArray round_to_bf16_py(py::handle x_obj) {
  FArray x = as_float(x_obj, "x");
  FArray y = new_float(shape_of(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    round_to_bf16(xp, yp, n);
  }
  return y;
}

}  // namespace

void register_packed_linear(py::module_& m) {
  // shared_ptr: a serving network (bind_infer.cpp) keeps the layer it was given.
  py::class_<PackedLinear, std::shared_ptr<PackedLinear>>(m, "PackedLinear",
                           "A fully connected layer frozen for inference: weights packed once.")
      .def(py::init(&make), py::arg("weight"), py::arg("bias"), py::arg("precision") = "fp32",
           "weight (out_features, in_features) float32, bias (out_features,) or None; "
           "precision 'fp32' or 'bf16' (weights and inputs rounded to bfloat16, float32 sums).")
      .def("forward", &forward_py, py::arg("x"), py::arg("relu") = false,
           "y = x @ weight.T + bias (then relu), x of shape (N, in_features).")
      .def("unpack", &unpack_py, "The weights (out, in) as the kernels use them.")
      .def_property_readonly("nbytes", &PackedLinear::bytes, "Bytes of packed weights and bias.")
      .def_property_readonly("in_features", &PackedLinear::in)
      .def_property_readonly("out_features", &PackedLinear::out)
      .def("kernel_name", &PackedLinear::kernel_name, py::arg("m"),
           "Which kernel runs for a batch of m rows on the current tier.");
  m.def("round_to_bf16", &round_to_bf16_py, py::arg("x"),
        "x rounded to bfloat16 (nearest even; subnormals to zero; NaN kept), as float32.");
}

}  // namespace pcn::bind
