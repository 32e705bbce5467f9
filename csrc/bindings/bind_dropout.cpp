// Inverted dropout with a mask regenerated from (seed, element index).
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bindings/arrays.h"
#include "dropout/dropout.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

FArray apply(const py::handle& xo, const char* name, double p, uint64_t seed) {
  FArray x = as_float(xo, name);
  PCN_CHECK(p >= 0.0 && p <= 1.0, "p must be in [0, 1], got ", p);
  FArray y = new_float(shape_of(x));
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int64_t n = x.size();
  {
    py::gil_scoped_release nogil;
    pcn::dropout::dropout_apply(xp, yp, n, p, seed);
  }
  return y;
}

}  // namespace

void register_dropout(py::module_& m) {
  m.def("dropout_forward",
        [](py::handle x, double p, uint64_t seed) { return apply(x, "x", p, seed); },
        py::arg("x"), py::arg("p"), py::arg("seed"),
        "y = x * (kept ? 1/(1-p) : 0); element i is kept iff rng_bits(rng_key(seed), i) >= "
        "min(round(p * 2^32), 2^32 - 1).");
  m.def("dropout_backward",
        [](py::handle gy, double p, uint64_t seed) { return apply(gy, "grad_y", p, seed); },
        py::arg("grad_y"), py::arg("p"), py::arg("seed"),
        "grad_x = grad_y * mask * 1/(1-p), with the forward call's mask regenerated from seed.");
}

}  // namespace pcn::bind
