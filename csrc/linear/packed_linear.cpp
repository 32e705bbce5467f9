#include "linear/packed_linear.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "common/bf16.h"
#include "common/check.h"
#include "common/cpu_features.h"
#include "common/threading.h"
#include "gemm/sgemm.h"
#include "linear/gemv.h"

namespace pcn::linear {
namespace {

using gemm::NR;
static_assert(NR == kPanel, "GEMV panels are the GEMM's B panels");

// Up to this many rows the GEMV streams the weights once for all rows; more rows go to the
// GEMM driver (avx2, ref), or on avx512 to the same kernel in 12-row groups per MC-row block.
// Measured on Zen 5, one thread, weights from DRAM (3136 -> 1024, 4096 -> 256, 512 -> 128),
// GEMV against the GEMM driver: avx512 ahead by 3-68% for 2..8 rows (and its 12-row groups
// 10-47% ahead past that); avx2 ahead by 2-39% up to 4 rows, behind from 5 (two passes over
// the weights); ref ahead from 3 rows by 2.5-7x (the portable 3..6-row micro-kernels are
// slow), 12% behind at 2 and even at 1.
int64_t gemv_max_rows(Isa isa) {
  switch (isa) {
    case Isa::avx512: return 8;
    case Isa::avx2: return 4;
    default: return 8;
  }
}
constexpr int64_t kGemvMaxRowsBf16 = 8;

GemvFn gemv_kernel(Isa isa) {
#ifdef PCN_HAVE_AVX512
  if (isa == Isa::avx512) return &gemv_avx512;
#endif
#ifdef PCN_HAVE_AVX2
  if (isa >= Isa::avx2) return &gemv_avx2;
#endif
  return &gemv_ref;
}

// Float32 panels, read in place by the GEMM driver.
class PanelsB final : public gemm::BPacker {
 public:
  PanelsB(const float* w, int64_t npad) : w_(w), npad_(npad) {}
  const float* prepacked(int64_t k0, int64_t kc, int64_t n0) const override {
    return w_ + k0 * npad_ + n0 * kc;
  }
  // Not called by the driver while prepacked() answers; a plain copy for any other caller.
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override {
    std::memcpy(dst, prepacked(k0, kc, n0), (nc + NR - 1) / NR * NR * kc * sizeof(float));
  }

 private:
  const float* w_;
  int64_t npad_;
};

// bfloat16 pairs widened to the float32 panels the micro-kernels read (exact: a bfloat16 is
// the top half of a float32). The driver asks for whole k blocks of the layout.
class Bf16PairsB final : public gemm::BPacker {
 public:
  Bf16PairsB(const uint32_t* w, int64_t npad) : w_(w), npad_(npad) {}
  void pack(int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst) const override {
    const int64_t kc2 = (kc + 1) / 2;
    const uint32_t* block = w_ + k0 * npad_ / 2;
    for (int64_t jr = 0; jr < nc; jr += NR) {
      const uint32_t* src = block + (n0 + jr) * kc2;
      float* d = dst + jr * kc;
      for (int64_t q = 0; q < kc2; ++q) {
        uint32_t even[NR], odd[NR];
        for (int64_t j = 0; j < NR; ++j) {
          even[j] = src[q * NR + j] << 16;
          odd[j] = src[q * NR + j] & 0xFFFF0000u;
        }
        std::memcpy(d + 2 * q * NR, even, sizeof even);
        if (2 * q + 1 < kc) std::memcpy(d + (2 * q + 1) * NR, odd, sizeof odd);
      }
    }
  }

 private:
  const uint32_t* w_;
  int64_t npad_;
};

float bf16_value(float v) {
  const uint32_t b = uint32_t(bf16_bits(v)) << 16;
  float r;
  std::memcpy(&r, &b, sizeof r);
  return r;
}

}  // namespace

PackedLinear::PackedLinear(int64_t in, int64_t out, const float* w, const float* bias,
                           Precision p)
    : in_(in), out_(out), precision_(p) {
  PCN_CHECK(in >= 0 && out >= 0, "in_features and out_features must be >= 0, got ", in, " and ",
            out);
  PCN_CHECK(checked_mul(in, out, "weight") <= kMaxElements, "weight of ", in, " x ", out,
            " is too large");
  PCN_CHECK(w || in * out == 0, "weight is null");
  npad_ = (out + NR - 1) / NR * NR;
  kcb_ = std::max<int64_t>(1, std::min(in, gemm::KC_NARROW));
  bf16_pairs_ = p == Precision::bf16 && current_isa() == Isa::avx512 && cpu_has_avx512_bf16();
  const int64_t np = npad_ / NR;
  if (bf16_pairs_) {
    // Every block but the last has an even kc (KC_NARROW); the last may need one zero row.
    const int64_t halves = npad_ * (in + 1);
    w_.resize(static_cast<size_t>(std::max<int64_t>(1, (halves + 1) / 2)));
    uint16_t* dst = reinterpret_cast<uint16_t*>(w_.data());
    parallel_for(np, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t pc = 0; pc < in; pc += kcb_) {
        const int64_t kc = std::min(kcb_, in - pc), kc2 = (kc + 1) / 2;
        for (int64_t p = p0; p < p1; ++p) {
          uint16_t* panel = dst + pc * npad_ + p * kc2 * 2 * NR;
          for (int64_t j = 0; j < NR; ++j) {
            const int64_t o = p * NR + j;
            for (int64_t q = 0; q < kc2; ++q) {
              const int64_t k = pc + 2 * q;
              panel[q * 2 * NR + 2 * j] = o < out ? bf16_bits(w[o * in + k]) : 0;
              panel[q * 2 * NR + 2 * j + 1] =
                  o < out && 2 * q + 1 < kc ? bf16_bits(w[o * in + k + 1]) : 0;
            }
          }
        }
      }
    });
  } else {
    w_.resize(static_cast<size_t>(std::max<int64_t>(1, npad_ * in)));
    float* dst = w_.data();
    const bool round = p == Precision::bf16;
    parallel_for(np, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t pc = 0; pc < in; pc += kcb_) {
        const int64_t kc = std::min(kcb_, in - pc);
        for (int64_t p = p0; p < p1; ++p) {
          float* panel = dst + pc * npad_ + p * kc * NR;
          for (int64_t j = 0; j < NR; ++j) {
            const int64_t o = p * NR + j;
            for (int64_t kk = 0; kk < kc; ++kk) {
              const float v = o < out ? w[o * in + pc + kk] : 0.0f;
              panel[kk * NR + j] = round ? bf16_value(v) : v;
            }
          }
        }
      }
    });
  }
  has_bias_ = bias != nullptr;
  if (has_bias_) {
    bias_.resize(static_cast<size_t>(std::max<int64_t>(1, out)));
    std::copy(bias, bias + out, bias_.data());
  }
}

PackedLinear::Path PackedLinear::path(int64_t m) const {
  const Isa isa = current_isa();
  if (bf16_pairs_) {
    if (isa != Isa::avx512) return Path::gemm_bf16_pairs;
    return m <= kGemvMaxRowsBf16 ? Path::gemv_bf16 : Path::gemm_bf16;
  }
  if (m <= std::min(gemv_max_rows(isa), kGemvMaxRows)) return Path::gemv;
  return isa == Isa::avx512 ? Path::rows : Path::gemm;
}

void PackedLinear::forward(int64_t m, const float* x, float* y, bool relu) const {
  if (m <= 0 || out_ == 0) return;
  const float* bias = has_bias_ ? bias_.data() : nullptr;
  if (in_ == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < out_; ++j) {
        const float v = bias ? bias[j] : 0.0f;
        y[i * out_ + j] = relu && v < 0.0f ? 0.0f : v;
      }
    return;
  }
  const Path pth = path(m);
  GemvArgs args{m, in_, npad_, out_, kcb_, x, in_, w_.data(), bias, y, out_, relu};
  AlignedBuffer xbuf;
  const bool dot = pth == Path::gemv_bf16 || pth == Path::gemm_bf16;
  if (dot) {
    // x as bfloat16 pairs, a zero past an odd in_.
    const int64_t ld2 = (in_ + 1) / 2;
    xbuf.resize(static_cast<size_t>(m * ld2));
    uint16_t* xb = reinterpret_cast<uint16_t*>(xbuf.data());
    for (int64_t i = 0; i < m; ++i) {
      to_bf16_bits(x + i * in_, xb + i * 2 * ld2, in_);
      if (in_ % 2) xb[i * 2 * ld2 + in_] = 0;
    }
    args.x = xbuf.data();
    args.ldx = ld2;
  } else if (precision_ == Precision::bf16) {
    xbuf.resize(static_cast<size_t>(m * in_));
    round_to_bf16(x, xbuf.data(), m * in_);
    x = xbuf.data();
    args.x = x;
  }

  if (pth == Path::gemm || pth == Path::gemm_bf16_pairs) {
    forward_gemm(m, x, y, relu);
    return;
  }
  const int64_t np = npad_ / NR;
#ifdef PCN_HAVE_AVX512
  if (pth == Path::gemm_bf16 || pth == Path::rows) {
    const GemvFn rows_fn = pth == Path::rows ? &gemv_avx512 : &gemm_bf16_avx512;
    // Threads split pairs of panels (the kernels' unit); each output is one thread's sum.
    // Row blocks of MC keep the x rows a panel pair meets in cache, as the GEMM's A block.
    for (int64_t i0 = 0; i0 < m; i0 += gemm::MC) {
      GemvArgs a = args;
      a.m = std::min(gemm::MC, m - i0);
      a.x = dot ? static_cast<const void*>(static_cast<const uint32_t*>(args.x) + i0 * args.ldx)
                : static_cast<const void*>(static_cast<const float*>(args.x) + i0 * args.ldx);
      a.y = y + i0 * out_;
      const int64_t grain = a.m * in_ >= (int64_t(1) << 16) ? 2 : np + 1;
      parallel_for(np, grain, [&](int64_t p0, int64_t p1) { rows_fn(a, p0, p1); });
    }
    return;
  }
  const GemvFn fn = pth == Path::gemv_bf16 ? &gemv_bf16_avx512 : gemv_kernel(current_isa());
#else
  const GemvFn fn = gemv_kernel(current_isa());
#endif
  // At least ~64 KB of weights per thread: smaller layers are not worth waking a team for.
  const int64_t panel_bytes = in_ * NR * (dot ? 2 : 4);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / panel_bytes);
  parallel_for(np, grain, [&](int64_t p0, int64_t p1) { fn(args, p0, p1); });
}

void PackedLinear::forward_gemm(int64_t m, const float* x, float* y, bool relu) const {
  const PanelsB panels(w_.data(), npad_);
  const Bf16PairsB pairs(reinterpret_cast<const uint32_t*>(w_.data()), npad_);
  const gemm::BPacker& b = bf16_pairs_ ? static_cast<const gemm::BPacker&>(pairs) : panels;
  const gemm::Epilogue ep{nullptr, has_bias_ ? bias_.data() : nullptr, relu};
  // Blocks of at most MC rows: PackedA then blocks k by KC_NARROW, the layout's k block.
  for (int64_t i0 = 0; i0 < m; i0 += gemm::MC) {
    const int64_t mb = std::min(gemm::MC, m - i0);
    gemm::PackedA pa;
    pa.pack({x + i0 * in_, in_, 1}, mb, in_);
    if (pa.kc_block() != kcb_)
      throw std::logic_error("PackedLinear: the GEMM's k block differs from the packed layout's");
    gemm::gemm_packed(pa, b, out_, y + i0 * out_, out_, false, ep);
  }
}

void PackedLinear::unpack(float* w) const {
  if (in_ == 0 || out_ == 0) return;
  const uint16_t* w16 = reinterpret_cast<const uint16_t*>(w_.data());
  for (int64_t pc = 0; pc < in_; pc += kcb_) {
    const int64_t kc = std::min(kcb_, in_ - pc), kc2 = (kc + 1) / 2;
    for (int64_t o = 0; o < out_; ++o) {
      const int64_t p = o / NR, j = o % NR;
      for (int64_t kk = 0; kk < kc; ++kk) {
        float v;
        if (bf16_pairs_) {
          const uint32_t b = uint32_t(w16[pc * npad_ + p * kc2 * 2 * NR + (kk / 2) * 2 * NR +
                                          2 * j + kk % 2])
                             << 16;
          std::memcpy(&v, &b, sizeof v);
        } else {
          v = w_.data()[pc * npad_ + p * kc * NR + kk * NR + j];
        }
        w[o * in_ + pc + kk] = v;
      }
    }
  }
}

int64_t PackedLinear::bytes() const {
  const int64_t wbytes = bf16_pairs_ ? npad_ * (in_ + (in_ % 2)) * 2 : npad_ * in_ * 4;
  return wbytes + (has_bias_ ? out_ * 4 : 0);
}

std::string PackedLinear::kernel_name(int64_t m) const {
  const std::string tier = isa_name(current_isa());
  const bool emulated = precision_ == Precision::bf16;
  switch (path(m)) {
    case Path::gemv: return (emulated ? "gemv bf16 emulated " : "gemv ") + tier;
    case Path::gemm: return (emulated ? "gemm bf16 emulated " : "gemm ") + tier + " prepacked";
    case Path::rows: return emulated ? "gemm bf16 emulated avx512 12x32 direct" : "gemm avx512 12x32 direct";
    case Path::gemv_bf16: return "gemv bf16 avx512-bf16 dot";
    case Path::gemm_bf16: return "gemm bf16 avx512-bf16 dot";
    default: return "gemm bf16 emulated " + tier + " (bf16 panels widened per call)";
  }
}

}  // namespace pcn::linear
