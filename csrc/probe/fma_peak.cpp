#include "probe/fma_peak.h"

#include <atomic>
#include <stdexcept>

#include "common/check.h"
#include "common/threading.h"

namespace pcn::probe {

double fma_peak_run(Isa isa, int64_t steps) {
  PCN_CHECK(isa_supported(isa), "fma_peak: this CPU cannot run the ", isa_name(isa), " tier");
  FmaProbe p{nullptr, 0};
#ifdef PCN_HAVE_AVX512
  if (isa == Isa::avx512) p = fma_probe_avx512();
#endif
#ifdef PCN_HAVE_AVX2
  if (isa == Isa::avx2) p = fma_probe_avx2();
#endif
  PCN_CHECK(p.chains != nullptr, "fma_peak: no probe for the ", isa_name(isa), " tier");
  PCN_CHECK(steps >= 1, "fma_peak: steps must be >= 1, got ", steps);
  const int nt = get_num_threads();
  std::atomic<int> sink{0};
  parallel_for(nt, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) sink += p.chains(steps) > 0.0f;
  });
  return double(nt) * double(steps) * double(p.flops_per_step);
}

}  // namespace pcn::probe
