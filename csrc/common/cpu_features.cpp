#include "common/cpu_features.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/check.h"

namespace pcn {
namespace {

constexpr Isa kAllIsas[] = {Isa::ref, Isa::avx2, Isa::avx512};

#if defined(__x86_64__) || defined(__i386__)
// XGETBV without -mxsave (this file is built for the baseline ISA); only called when CPUID
// says OSXSAVE, so the instruction exists.
uint64_t read_xcr0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  const uint64_t xcr0 = osxsave ? read_xcr0() : 0;
  // XCR0 bits: 1 SSE, 2 AVX (YMM upper halves); 5 opmask, 6 ZMM_Hi256, 7 Hi16_ZMM;
  // 17 XTILECFG, 18 XTILEDATA.
  f.os_ymm = avx && (xcr0 & 0x6) == 0x6;
  f.os_zmm = f.os_ymm && (xcr0 & 0xE0) == 0xE0;
  f.os_amx = (xcr0 & 0x60000) == 0x60000;
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = b & (1u << 5);
  f.avx512f = b & (1u << 16);
  f.avx512dq = b & (1u << 17);
  f.avx512bw = b & (1u << 30);
  f.avx512vl = b & (1u << 31);
  f.avx512_vnni = c & (1u << 11);
  f.amx_bf16 = d & (1u << 22);
  f.avx512_fp16 = d & (1u << 23);
  f.amx_tile = d & (1u << 24);
  const unsigned max_sub = a;
  if (max_sub >= 1) {
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = a & (1u << 5);
  }
  return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

void add(std::string& out, bool have, const char* name) {
  if (have) return;
  if (!out.empty()) out += ", ";
  out += name;
}

}  // namespace

namespace {

// PYCONVNET_HIDE_CPU_FEATURES=avx512f,avx512_bf16,...: features treated as absent, so that one
// machine can be made to look like an older CPU (tests of the import errors and of dispatch).
// Read once with the features; a name it does not know is reported by apply_isa_env (at import:
// this runs during static initialisation, where nothing may throw).
std::string g_hide_error;

CpuFeatures hide_features(CpuFeatures f) {
  const char* env = std::getenv("PYCONVNET_HIDE_CPU_FEATURES");
  if (!env) return f;
  const struct {
    const char* name;
    bool CpuFeatures::*flag;
  } table[] = {{"avx2", &CpuFeatures::avx2}, {"fma", &CpuFeatures::fma},
               {"avx512f", &CpuFeatures::avx512f}, {"avx512bw", &CpuFeatures::avx512bw},
               {"avx512vl", &CpuFeatures::avx512vl}, {"avx512dq", &CpuFeatures::avx512dq},
               {"avx512_vnni", &CpuFeatures::avx512_vnni}, {"avx512_bf16", &CpuFeatures::avx512_bf16},
               {"avx512_fp16", &CpuFeatures::avx512_fp16}, {"amx_tile", &CpuFeatures::amx_tile},
               {"amx_bf16", &CpuFeatures::amx_bf16}};
  std::string list = env;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string name = list.substr(start, end - start);
    start = end + 1;
    if (name.empty()) continue;
    bool known = false;
    for (const auto& t : table)
      if (name == t.name) {
        f.*(t.flag) = false;
        known = true;
      }
    if (!known && g_hide_error.empty()) {
      std::string names;
      for (const auto& t : table) names += cat(names.empty() ? "" : ", ", t.name);
      g_hide_error = cat("PYCONVNET_HIDE_CPU_FEATURES names an unknown feature '", name,
                         "'; known: ", names);
    }
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = hide_features(detect());
  return f;
}

std::string isa_missing(Isa isa) {
  std::string out;
  if (isa == Isa::ref) return out;
  const CpuFeatures& f = cpu_features();
#if !defined(PCN_HAVE_AVX2)
  return "not built for x86-64";
#endif
  add(out, f.avx2, "avx2");
  add(out, f.fma, "fma");
  add(out, f.os_ymm, "YMM state not enabled by the OS");
  if (isa == Isa::avx512) {
#if !defined(PCN_HAVE_AVX512)
    add(out, false, "a build with the avx512 kernels");
#endif
    add(out, f.avx512f, "avx512f");
    add(out, f.avx512bw, "avx512bw");
    add(out, f.avx512vl, "avx512vl");
    add(out, f.avx512dq, "avx512dq");
    add(out, f.os_zmm, "ZMM state not enabled by the OS");
  }
  return out;
}

bool isa_supported(Isa isa) { return isa_missing(isa).empty(); }

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas)
    if (isa_supported(isa)) out.push_back(isa);
  return out;
}

Isa best_isa() { return supported_isas().back(); }

bool cpu_has_avx2_fma() { return isa_supported(Isa::avx2); }

bool cpu_has_avx512_bf16() {
#if defined(PCN_HAVE_AVX512)
  return cpu_features().avx512_bf16 && isa_supported(Isa::avx512);
#else
  return false;
#endif
}

namespace {
std::atomic<int> g_isa{static_cast<int>(best_isa())};
}  // namespace

Isa current_isa() { return static_cast<Isa>(g_isa.load(std::memory_order_relaxed)); }

bool set_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  g_isa.store(static_cast<int>(isa));
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    default: return "ref";
  }
}

Isa parse_isa(const std::string& name, const char* what) {
  for (Isa isa : kAllIsas)
    if (name == isa_name(isa)) return isa;
  throw std::invalid_argument(
      cat(what, " must be one of 'ref', 'avx2', 'avx512', got '", name, "'"));
}

void apply_isa_env() {
  cpu_features();
  if (!g_hide_error.empty()) throw std::invalid_argument(g_hide_error);
  const char* env = std::getenv("PYCONVNET_ISA");
  if (!env || !*env) {
    set_isa(best_isa());
    return;
  }
  const Isa isa = parse_isa(env, "PYCONVNET_ISA");
  if (!set_isa(isa)) {
    std::string here;
    for (Isa s : supported_isas()) here += cat(here.empty() ? "'" : ", '", isa_name(s), "'");
    throw std::invalid_argument(cat("PYCONVNET_ISA='", env, "' cannot run on this CPU (missing: ",
                                    isa_missing(isa), "); valid values here: ", here));
  }
}

}  // namespace pcn
