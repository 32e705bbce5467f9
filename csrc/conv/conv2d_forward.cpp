// Forward convolution: runs the algorithm of the plan (conv_plan.h). The GEMM paths live here:
// one GEMM per (image, group), Y_g = W_g * im2col(X_g), with the weights packed once per call
// and shared by all threads, im2col fused into the packing of B (or B read in place), and
// bias + ReLU fused into the micro-kernel's epilogue. Threads split the output positions of
// the whole batch, so batch 1 and batch 64 both use every core.
#include <algorithm>
#include <memory>
#include <vector>

#include "common/threading.h"
#include "conv/conv2d.h"
#include "conv/conv2d_trim.h"
#include "conv/depthwise.h"
#include "conv/direct_conv.h"
#include "conv/im2col_inplace.h"
#include "conv/im2col_pack.h"
#include "common/cpu_features.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

InplaceGemmFn select_im2col_inplace() {
#ifdef PCN_HAVE_AVX512
  if (current_isa() == Isa::avx512) return &im2col_inplace_avx512;
#endif
  return nullptr;
}

namespace {

// im2col read in place: threads split the output rows of the whole batch and each chunk pads
// only the image rows it reads. Each output element is computed by one kernel call with the
// same sum whatever chunk it falls in.
void inplace_forward(InplaceGemmFn kernel, const Conv2dShape& s, const float* x,
                     const std::vector<gemm::PackedA>& packed, const float* bias, float* y,
                     bool relu) {
  const int64_t ohw = s.oh * s.ow, ocg = s.ocg(), cg = s.cg();
  const int64_t rows = s.n * s.oh;
  // At least about 512 positions per chunk, as the GEMM path's 32 tiles of 16.
  const int64_t min_rows = std::max<int64_t>(1, 512 / s.ow);
  parallel_for_dynamic(rows, dynamic_chunk(rows, min_rows), [&](int64_t r0, int64_t r1) {
    thread_local PaddedImage img;
    thread_local std::vector<int64_t> koff;
    for (int64_t b = r0 / s.oh; b * s.oh < r1; ++b) {
      const int64_t oy0 = std::max<int64_t>(r0 - b * s.oh, 0);
      const int64_t oy1 = std::min<int64_t>(r1 - b * s.oh, s.oh);
      for (int64_t g = 0; g < s.groups; ++g) {
        img.assign_rows(s, x + (b * s.c + g * cg) * s.h * s.w, oy0 * s.sh,
                        (oy1 - 1) * s.sh + (s.kh - 1) * s.dh + 1);
        im2col_offsets(s, img.height(), img.width(), koff);
        const InplaceGemm args{packed[g].panel(0, s.kdim(), 0), ocg, s.kdim(), img.data(),
                               koff.data(), img.width(), s.ow, s.sh,
                               bias ? bias + g * ocg : nullptr, relu,
                               y + (b * s.oc + g * ocg) * ohw, ohw};
        kernel(args, oy0 * s.ow, oy1 * s.ow);
      }
    }
  });
}

}  // namespace

ForwardPlan plan_forward(const Conv2dShape& s) {
  return plan_forward(choose_algorithm(s, current_isa(), Pass::forward));
}

ForwardPlan plan_forward(Algo algo) {
  if (algo == Algo::direct) return {algo, &select_direct_ukernels()};
  if (algo == Algo::im2col_in_place) {
    // The rule holds only on the avx512 tier, whose kernel select_im2col_inplace returns; if
    // the tier was switched since, the GEMM path of the new tier runs.
    if (const InplaceGemmFn inplace = select_im2col_inplace()) return {algo, nullptr, inplace};
    return {Algo::im2col_gemm};
  }
  return {algo};
}

std::vector<gemm::PackedA> pack_gemm_weights(const Conv2dShape& s, const float* w) {
  const int64_t ocg = s.ocg(), kdim = s.kdim();
  std::vector<gemm::PackedA> packed(s.groups);
  for (int64_t g = 0; g < s.groups; ++g) packed[g].pack({w + g * ocg * kdim, kdim, 1}, ocg, kdim);
  return packed;
}

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y, bool relu) {
  if (const auto t = trim_taps(s)) {
    if (t->no_taps) {
      fill_bias(s, bias, y, relu);
      return;
    }
    const std::vector<float> wt = trimmed_weights(s, *t, w);
    std::vector<float> xt;
    if (t->crop) xt = cropped_input(s, *t, x);
    conv2d_forward_with(t->s, plan_forward(t->s), xt.empty() ? x : xt.data(), wt.data(), nullptr,
                        nullptr, bias, y, relu);
    return;
  }
  conv2d_forward_with(s, plan_forward(s), x, w, nullptr, nullptr, bias, y, relu);
}

void conv2d_forward_with(const Conv2dShape& s, const ForwardPlan& plan, const float* x, const float* w,
                         const float* packed_taps, const std::vector<gemm::PackedA>* packed_a,
                         const float* bias, float* y, bool relu) {
  const int64_t ohw = s.oh * s.ow;
  if (s.n == 0 || s.oc == 0 || ohw == 0) return;
  const Algo algo = plan.algo;
  if (algo == Algo::depthwise) {
    depthwise_forward(s, x, w, bias, y, relu);
    return;
  }
  if (algo == Algo::direct) {
    direct_conv_forward(s, *plan.direct, x, w, bias, y, relu, packed_taps);
    return;
  }
  const int64_t ocg = s.ocg(), cg = s.cg();
  std::vector<gemm::PackedA> own;
  if (!packed_a) {
    own = pack_gemm_weights(s, w);
    packed_a = &own;
  }
  const std::vector<gemm::PackedA>& packed = *packed_a;
  if (algo == Algo::im2col_in_place) {
    inplace_forward(plan.inplace, s, x, packed, bias, y, relu);
    return;
  }

  const bool pointwise = algo == Algo::pointwise_gemm;
  const gemm::Ukernels& uk = gemm::select_ukernel();
  const int64_t total = s.n * ohw;
  // Chunks of whole NR-column tiles (a chunk may span several images), handed out in turn so
  // that a core shared with another process takes fewer (as in direct_conv.cpp): up to 8 per
  // thread of at least 32 tiles. Calls under 64 tiles per thread keep one even chunk per
  // thread: with 4-tile chunks, batch-1 1x1 and 5x5 3->6 layers lost 11-18% (an uneven last
  // chunk, the image padded again per chunk). Column ranges do not change any sum.
  const int64_t tiles = (total + gemm::NR - 1) / gemm::NR;
  parallel_for_dynamic(tiles, dynamic_chunk(tiles, 32), [&](int64_t t0, int64_t t1) {
    thread_local AlignedBuffer bbuf;  // scratch kept between chunks and calls
    thread_local PaddedImage img;
    const int64_t q0 = t0 * gemm::NR, q1 = std::min(total, t1 * gemm::NR);
    for (int64_t b = q0 / ohw; b * ohw < q1; ++b) {
      const int64_t p0 = std::max<int64_t>(q0 - b * ohw, 0);
      const int64_t p1 = std::min<int64_t>(q1 - b * ohw, ohw);
      for (int64_t g = 0; g < s.groups; ++g) {
        const float* xg = x + (b * s.c + g * cg) * s.h * s.w;
        float* yg = y + (b * s.oc + g * ocg) * ohw;
        gemm::Epilogue ep{bias ? bias + g * ocg : nullptr, nullptr, relu};
        if (pointwise) {
          gemm::StridedBPacker pb({xg, s.h * s.w, 1});
          gemm::gemm_block(uk, packed[g], pb, 0, ocg, p0, p1, yg, ohw, false, ep, bbuf);
        } else {
          img.assign(s, xg);
          Im2colBPacker pb(s, img);
          gemm::gemm_block(uk, packed[g], pb, 0, ocg, p0, p1, yg, ohw, false, ep, bbuf);
        }
      }
    }
  });
}

}  // namespace pcn::conv
