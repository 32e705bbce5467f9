// Portable direct-convolution micro-kernels (direct_ukernel.h), plain loops.
#include "common/cpu_features.h"
#include "conv/direct_ukernel.h"

namespace pcn::conv {
namespace {

template <int R, int V>
void direct_ref(TapSegments taps, const float* origin, const int64_t* koff, int64_t astride,
                const float* b, float* c, int64_t ldc, int flags, const float* bias_n,
                const float* acc_in, TilePrefetch) {  // the portable kernel does not prefetch
  constexpr int W = 8 * V;
  float acc[R][W] = {};
  if (acc_in)
    for (int i = 0; i < R; ++i)
      for (int j = 0; j < W; ++j) acc[i][j] = acc_in[i * gemm::NR + j];
  for (int64_t s = 0; s < taps.segs; ++s)
    for (int64_t k = s * taps.stride; k < s * taps.stride + taps.len; ++k) {
      const float* ak = origin + koff[k];
      const float* bk = b + k * gemm::NR;
      for (int i = 0; i < R; ++i) {
        const float ai = ak[i * astride];
        for (int j = 0; j < W; ++j) acc[i][j] += ai * bk[j];
      }
    }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < W; ++j) {
      float v = acc[i][j];
      if (bias_n) v += bias_n[j];
      float& out = flags & kChannelMajor ? c[j * ldc + i] : c[i * ldc + j];
      if (flags & gemm::kAccumulate) v += out;
      if ((flags & gemm::kRelu) && v < 0.0f) v = 0.0f;  // NaN propagates, as in PyTorch
      out = v;
    }
}

template <int R>
constexpr DirectUkernelFn row(int v) { return v == 1 ? &direct_ref<R, 1> : &direct_ref<R, 2>; }

}  // namespace

const DirectUkernels& direct_ukernels_ref() {
  static const DirectUkernels k = {gemm::MR, 8, gemm::NR,
                                   {{row<1>(1), row<1>(2)}, {row<2>(1), row<2>(2)},
                                    {row<3>(1), row<3>(2)}, {row<4>(1), row<4>(2)},
                                    {row<5>(1), row<5>(2)}, {row<6>(1), row<6>(2)}}};
  return k;
}

const DirectUkernels& select_direct_ukernels() {
#ifdef PCN_HAVE_AVX512
  if (current_isa() == Isa::avx512) return direct_ukernels_avx512();
#endif
#ifdef PCN_HAVE_AVX2
  if (current_isa() >= Isa::avx2) return direct_ukernels_avx2_fma();
#endif
  return direct_ukernels_ref();
}

}  // namespace pcn::conv
