// Which instruction set the kernels use. Detected once from CPUID and XCR0 (the OS must save
// the YMM/ZMM state, not only the CPU have the instructions); PYCONVNET_ISA forces a tier at
// import (apply_isa_env), and set_isa() switches it at run time so one machine can test every
// tier it has. Every dispatching kernel reads current_isa() on each call.
#pragma once
#include <string>
#include <vector>

namespace pcn {

// Ordered: a higher tier needs every feature of the lower ones.
enum class Isa { ref = 0, avx2 = 1, avx512 = 2 };

// What CPUID and XGETBV report, read once.
struct CpuFeatures {
  bool avx2 = false, fma = false, os_ymm = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, os_zmm = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false, amx_bf16 = false, os_amx = false;
};
const CpuFeatures& cpu_features();

// Empty when this build and CPU can run `isa`, else the missing features ("avx512bw, ZMM state
// not enabled by the OS", "not built for x86-64").
std::string isa_missing(Isa isa);
bool isa_supported(Isa isa);
std::vector<Isa> supported_isas();
Isa best_isa();

Isa current_isa();
bool cpu_has_avx2_fma();
// AVX512-BF16 (VDPBF16PS, VCVTNEPS2BF16; CPUID leaf 7 subleaf 1 EAX bit 5) usable: the CPU has
// it and everything the avx512 tier needs, ZMM state included. Independent of current_isa():
// callers use it only while the avx512 tier is current.
bool cpu_has_avx512_bf16();
// Returns false (and changes nothing) if the CPU cannot run `isa`.
bool set_isa(Isa isa);
const char* isa_name(Isa isa);
// "ref" -> Isa::ref, ...; throws std::invalid_argument naming `what` and the valid values.
Isa parse_isa(const std::string& name, const char* what);
// Reads PYCONVNET_ISA (once, at import): unset keeps best_isa(); a typo or a tier this CPU
// lacks throws std::invalid_argument naming the valid values and what is missing.
void apply_isa_env();

}  // namespace pcn
