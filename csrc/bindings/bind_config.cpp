// Threads, ISA choice and build facts.
#include <pybind11/pybind11.h>

#include <string>

#include "common/check.h"
#include "common/cpu_features.h"
#include "common/threading.h"
#include "probe/fma_peak.h"

namespace py = pybind11;

// The thread count under C names exported from _C, so tools that find thread pools by the
// symbols of loaded libraries (threadpoolctl, through the controller in pyconvnet/_threads.py)
// recognise this module as pyconvnet's and not as another package's _C.
extern "C" __attribute__((visibility("default"))) int pyconvnet_get_num_threads(void) {
  return pcn::get_num_threads();
}
extern "C" __attribute__((visibility("default"))) void pyconvnet_set_num_threads(int n) {
  pcn::set_num_threads(n);
}

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
        "Instruction set the kernels use now: 'ref', 'avx2' or 'avx512'.");
  m.def("cpu_has_avx2_fma", &pcn::cpu_has_avx2_fma);
  m.def(
      "supported_isas",
      []() {
        py::list out;
        for (Isa isa : pcn::supported_isas()) out.append(std::string(isa_name(isa)));
        return out;
      },
      "The tiers this build and CPU can run, lowest first.");
  m.def(
      "isa_missing", [](const std::string& name) { return isa_missing(parse_isa(name, "isa")); },
      py::arg("name"), "What this CPU or build lacks to run tier `name` ('' when it can).");
  m.def(
      "cpu_features",
      []() {
        const CpuFeatures& f = pcn::cpu_features();
        py::dict d;
        d["avx2"] = f.avx2;
        d["fma"] = f.fma;
        d["os_ymm"] = f.os_ymm;
        d["avx512f"] = f.avx512f;
        d["avx512bw"] = f.avx512bw;
        d["avx512vl"] = f.avx512vl;
        d["avx512dq"] = f.avx512dq;
        d["os_zmm"] = f.os_zmm;
        d["avx512_vnni"] = f.avx512_vnni;
        d["avx512_bf16"] = f.avx512_bf16;
        d["avx512_fp16"] = f.avx512_fp16;
        d["amx_tile"] = f.amx_tile;
        d["amx_bf16"] = f.amx_bf16;
        d["os_amx"] = f.os_amx;
        return d;
      },
      "CPU features from CPUID, and the register state the OS saves (XCR0).");
  m.def(
      "set_isa",
      [](const std::string& name) {
        const Isa isa = parse_isa(name, "isa");
        PCN_CHECK(set_isa(isa), "isa '", name, "' cannot run on this CPU (missing: ",
                  isa_missing(isa), ")");
      },
      py::arg("name"), "Switch the kernel ISA (for testing every tier on one machine).");
  m.def(
      "fma_peak",
      [](const std::string& name, int64_t steps) {
        const Isa isa = parse_isa(name, "isa");
        py::gil_scoped_release nogil;
        return probe::fma_peak_run(isa, steps);
      },
      py::arg("isa"), py::arg("steps"),
      "Runs independent FMA chains at the width of tier `isa` ('avx2' or 'avx512') on every "
      "kernel thread for `steps` rounds; returns the FLOPs done (time the call for GFLOP/s).");
  m.def("openmp_runtime", []() { return std::string(pcn::openmp_runtime()); });
#ifdef PCN_HAVE_OPENMP
  m.attr("has_openmp") = true;
#else
  m.attr("has_openmp") = false;
#endif
  m.attr("compiler") = std::string(__VERSION__);
}

}  // namespace pcn::bind
