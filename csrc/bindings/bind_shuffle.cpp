// channel_shuffle (NCHW float32; shuffle/channel_shuffle.h).
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "shuffle/channel_shuffle.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

FArray shuffle(const py::handle& xo, int64_t groups) {
  FArray x = as_float_nd(xo, "x", 4);
  PCN_CHECK(groups >= 1, "groups must be >= 1, got ", groups);
  PCN_CHECK(x.shape(1) % groups == 0, "number of channels ", x.shape(1),
            " must be divisible by groups=", groups);
  const int64_t hw = checked_mul(x.shape(2), x.shape(3), "x");
  FArray y = new_float(shape_of(x));
  {
    const float* xp = x.data();
    float* yp = y.mutable_data();
    const int64_t n = x.shape(0), c = x.shape(1);
    py::gil_scoped_release nogil;
    shuffle::channel_shuffle(xp, yp, n, c, hw, groups);
  }
  return y;
}

}  // namespace

void register_shuffle(py::module_& m) {
  m.def("channel_shuffle", &shuffle, py::arg("x"), py::arg("groups"),
        "Output channel j * groups + g = input channel g * (C / groups) + j. The gradient is "
        "channel_shuffle(grad_y, C / groups).");
}

}  // namespace pcn::bind
