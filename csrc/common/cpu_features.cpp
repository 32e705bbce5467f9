#include "common/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace pcn {
namespace {

bool detect_avx2_fma() {
#if defined(PCN_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  // libgcc's check also requires the OS to save the YMM state (XGETBV).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

Isa initial_isa() {
  bool avx2 = detect_avx2_fma();
  const char* env = std::getenv("PYCONVNET_ISA");
  if (env && std::strcmp(env, "ref") == 0) return Isa::ref;
  return avx2 ? Isa::avx2 : Isa::ref;
}

std::atomic<int> g_isa{static_cast<int>(initial_isa())};

}  // namespace

bool cpu_has_avx2_fma() {
  static const bool v = detect_avx2_fma();
  return v;
}

Isa current_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_relaxed)); }

bool set_isa(Isa isa) {
  if (isa == Isa::avx2 && !cpu_has_avx2_fma()) return false;
  g_isa.store(static_cast<int>(isa));
  return true;
}

const char* isa_name(Isa isa) { return isa == Isa::avx2 ? "avx2" : "ref"; }

}  // namespace pcn
