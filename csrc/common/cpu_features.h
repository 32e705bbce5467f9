// Which instruction set the kernels use. Detected once from CPUID; PYCONVNET_ISA=ref
// (or avx2) overrides it, and set_isa() switches it at run time so one machine can test
// both paths. Every dispatching kernel reads current_isa() on each call.
#pragma once

namespace pcn {

enum class Isa { ref = 0, avx2 = 1 };

Isa current_isa();
bool cpu_has_avx2_fma();
// Returns false (and changes nothing) if the CPU cannot run `isa`.
bool set_isa(Isa isa);
const char* isa_name(Isa isa);

}  // namespace pcn
