#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace pcn::bind {

void register_dropout(py::module_& m) {}

}  // namespace pcn::bind
