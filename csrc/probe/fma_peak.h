// The FMA peak of this machine, measured: benchmarks quote kernel speed as a share of it, from
// the same run (the clock and the neighbours' load change between runs).
//
// chains(steps) runs `steps` rounds of kChains independent multiply-add chains at one ISA's
// vector width on the calling thread and returns a value that depends on every result (so the
// compiler keeps the work). Independent chains outnumber the FMA latency x the FMA pipes of
// current cores, so the probe is bound by FMA throughput alone.
#pragma once
#include <cstdint>

#include "common/cpu_features.h"

namespace pcn::probe {

using FmaChainsFn = float (*)(int64_t steps);

struct FmaProbe {
  FmaChainsFn chains;
  int64_t flops_per_step;  // multiply-adds counted as 2 FLOPs
};

#ifdef PCN_HAVE_AVX2
FmaProbe fma_probe_avx2();
#endif
#ifdef PCN_HAVE_AVX512
FmaProbe fma_probe_avx512();
#endif

// Runs the probe of `isa` on every thread of the team for `steps` rounds each; returns the
// FLOPs done (the caller times the call). Throws std::invalid_argument for a tier without a
// probe or one the CPU cannot run.
double fma_peak_run(Isa isa, int64_t steps);

}  // namespace pcn::probe
