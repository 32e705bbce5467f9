// Threads, ISA choice and build facts.
#include <pybind11/pybind11.h>

#include <string>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/threading.h"

namespace py = pybind11;

namespace pcn::bind {

void register_config(py::module_& m) {
  m.def("get_num_threads", &pcn::get_num_threads, "Threads the kernels use.");
  m.def(
      "set_num_threads",
      [](int n) {
        PCN_CHECK(n >= 1, "set_num_threads: n must be a positive int, got ", n);
        pcn::set_num_threads(n);
      },
      py::arg("n"));
  m.def("forked_after_threads", &pcn::forked_after_threads);
  m.def("isa", []() { return std::string(isa_name(current_isa())); },
        "Instruction set the kernels use now: 'avx2' or 'ref'.");
  m.def("cpu_has_avx2_fma", &pcn::cpu_has_avx2_fma);
  m.def(
      "set_isa",
      [](const std::string& name) {
        Isa isa;
        if (name == "ref") isa = Isa::ref;
        else if (name == "avx2") isa = Isa::avx2;
        else throw std::invalid_argument(cat("isa must be 'ref' or 'avx2', got '", name, "'"));
        PCN_CHECK(set_isa(isa), "isa '", name, "' is not supported by this CPU or build");
      },
      py::arg("name"), "Switch the kernel ISA (for testing both paths on one machine).");
  m.def("openmp_runtime", []() { return std::string(pcn::openmp_runtime()); });
#ifdef PCN_HAVE_OPENMP
  m.attr("has_openmp") = true;
#else
  m.attr("has_openmp") = false;
#endif
  m.attr("compiler") = std::string(__VERSION__);
}

}  // namespace pcn::bind
