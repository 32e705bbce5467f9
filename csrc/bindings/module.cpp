// pyconvnet._C: one register_* per kernel family, each in its own bind_*.cpp.
#include <pybind11/pybind11.h>

#include "common/check.h"
#include "common/cpu_features.h"

namespace py = pybind11;

namespace pcn::bind {
void register_config(py::module_& m);
void register_gemm(py::module_& m);
void register_conv(py::module_& m);
void register_conv_transpose(py::module_& m);
void register_linear(py::module_& m);
void register_packed_linear(py::module_& m);
void register_pool(py::module_& m);
void register_norm(py::module_& m);
void register_activation(py::module_& m);
void register_dropout(py::module_& m);
void register_softmax(py::module_& m);
void register_optim(py::module_& m);
void register_infer(py::module_& m);
void register_winograd(py::module_& m);
void register_ops(py::module_& m);
void register_merge(py::module_& m);
void register_lrn(py::module_& m);
void register_shuffle(py::module_& m);
void register_hard_activation(py::module_& m);
void register_global_max_pool(py::module_& m);
void register_upsample(py::module_& m);
void register_image(py::module_& m);
}  // namespace pcn::bind

PYBIND11_MODULE(_C, m) {
  // PYCONVNET_ISA first: a typo or a tier the CPU lacks fails the import (ImportError) with
  // the valid values, before any kernel could run on the wrong tier.
  pcn::apply_isa_env();
  m.doc() = "pyconvnet compute kernels (internal; use pyconvnet.functional)";
  // The largest array (in elements) a kernel accepts; Python checks layer weights against it.
  m.attr("max_elements") = py::int_(pcn::kMaxElements);
  pcn::bind::register_config(m);
  pcn::bind::register_gemm(m);
  pcn::bind::register_conv(m);
  pcn::bind::register_conv_transpose(m);
  pcn::bind::register_linear(m);
  pcn::bind::register_packed_linear(m);
  pcn::bind::register_pool(m);
  pcn::bind::register_norm(m);
  pcn::bind::register_activation(m);
  pcn::bind::register_dropout(m);
  pcn::bind::register_softmax(m);
  pcn::bind::register_optim(m);
  pcn::bind::register_infer(m);
  pcn::bind::register_winograd(m);
  pcn::bind::register_ops(m);
  pcn::bind::register_merge(m);
  pcn::bind::register_lrn(m);
  pcn::bind::register_shuffle(m);
  pcn::bind::register_hard_activation(m);
  pcn::bind::register_global_max_pool(m);
  pcn::bind::register_upsample(m);
  pcn::bind::register_image(m);
}
