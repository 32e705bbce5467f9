#include "conv/conv_plan.h"

#include <algorithm>
#include <sstream>

#include "conv/conv2d.h"
#include "conv/winograd.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

namespace {

bool depthwise(const Conv2dShape& s, Isa) { return s.groups > 1 && s.cg() == 1; }

bool pointwise(const Conv2dShape& s, Isa) { return is_pointwise(s); }

bool always(const Conv2dShape&, Isa) { return true; }

// Measured against the im2col GEMM path (docs/BENCHMARKS.md, 1 and 2 threads): 1.0-1.5x on
// 3x3 and 5x5 layers with 16+ output and 4+ input channels (largest on 14x14 maps, strided
// layers and the transposed convolutions of dx), but 0.92x with 3 input channels, where
// the GEMM's panels are cheap to pack and the direct kernel's per-tap overhead dominates.
bool direct(const Conv2dShape& s, Isa) {
  return s.groups == 1 && s.kh * s.kw > 1 && s.oc >= gemm::NR && s.c >= 4;
}

// B read in place (im2col_inplace.h, an AVX-512 kernel): stride 1 along x, so each run of an
// output row reads consecutive floats, and k in one block of the packed weights. Faster than
// the GEMM path on every such shape measured (1.1-3.0x on one thread: 1-3 input channels with
// 6-128 output channels, 32..200 -> 3..12 channels, grouped, widths 8 to 64), except 1x1
// without padding (0.5-1.0x on 64..512 -> 8..256): there B is the image itself and the GEMM's
// packed panels stream it better than runs of a plane that no longer fits L1.
bool im2col_in_place(const Conv2dShape& s, Isa isa) {
#ifdef PCN_HAVE_AVX512
  return isa == Isa::avx512 && s.sw == 1 && !is_pointwise(s) && s.ocg() <= gemm::MC &&
         s.kdim() <= gemm::KC_NARROW;
#else
  (void)s, (void)isa;
  return false;
#endif
}

bool winograd(const Conv2dShape& s, Isa isa) { return winograd_applies(s) && winograd_pays(s, isa); }

// Below this many multiply-adds per output (kdim) the patch gather, the channels-last copy and
// the transposed write cost more than VDPBF16PS saves; with fewer than 64 output channels
// each gathered patch serves fewer outputs, so the bar is higher. Measured on Zen 5 (bf16
// serving, against the float32 direct path on rounded inputs, batch 1 and 64): 64 outputs:
// 32 -> 64 3x3 stride 2 (kdim 288) 1.1x, 64 -> 64 3x3 stride 2 (576) 1.2x, 32 -> 64 5x5
// (800) 1.4x; 32 outputs: 8 -> 32 5x5 (200) even, 32 -> 32 3x3 stride 2 (288) 0.9x,
// 16 -> 32 5x5 (400) 1.1x; 1 -> 32 and 3 -> 32 (25, 27) 2-3x slower. Pointwise layers: the
// float32 GEMM reads x in place and was ahead at 64..256 channels. Winograd, where it pays,
// comes first: it does a quarter of the multiplies (1.5-3.5x ahead of this kernel on
// cifar-cnn's 3x3 layers).
constexpr int64_t kBf16MinKdim = 256;
constexpr int64_t kBf16MinKdimFewOutputs = 384;  // below 64 output channels
bool bf16_dot(const Conv2dShape& s, Isa isa) {
#ifdef PCN_HAVE_AVX512
  return isa == Isa::avx512 && cpu_has_avx512_bf16() && s.groups == 1 && s.kh * s.kw > 1 &&
         s.kdim() >= (s.oc >= 64 ? kBf16MinKdim : kBf16MinKdimFewOutputs);
#else
  (void)s, (void)isa;
  return false;
#endif
}

// With stride 1, dx is itself a stride-1 convolution of dy (conv2d_grad_input.cpp) run on the
// forward path. Its GEMM has only cg rows, so it pays when cg fills several MR-row tiles
// (measured: 64 and 32 input channels gain 5-20%; 1 or 3 input channels run 5x slower than
// GEMM + col2im). The padding of that convolution, d*(K-1) - p, must not be negative.
bool transposed_conv(const Conv2dShape& s, Isa) {
  return s.cg() >= 16 && s.sh == 1 && s.sw == 1 && s.pt <= s.dh * (s.kh - 1) &&
         s.pb <= s.dh * (s.kh - 1) && s.pl <= s.dw * (s.kw - 1) && s.pr <= s.dw * (s.kw - 1);
}

// dw: gathering 16 columns (c, ky, kx) from a CHW image touches 16 scattered floats per
// position; from a channels-last copy, with columns (ky, kx, c), they are 16 consecutive
// floats when a group has 16+ channels (im2col_hwc_pack.h), and with a multiple of 16 the
// kernels read them in place without a panel copy (grad_weight_ukernel.h).
bool hwc_in_place(const Conv2dShape& s, Isa) { return s.cg() >= gemm::NR && s.cg() % gemm::NR == 0; }
bool hwc_gemm(const Conv2dShape& s, Isa) { return s.cg() >= gemm::NR; }

// Serving (pyconvnet.InferenceModel, infer/serving_conv.cpp runs these with its own drivers):
// undilated, padding narrower than the kernel, the shapes these were measured on.
bool plain_geometry(const Conv2dShape& s) {
  return s.dh == 1 && s.dw == 1 && s.pt < s.kh && s.pb < s.kh && s.pl < s.kw && s.pr < s.kw;
}

// Strided layers on 2-3 input channels (a ResNet's 7x7 stride-2 stem): the direct path
// measured 1.8x (7x7 s2 3->64 at 224, batch 1 and 8) and 1.6-2.4x (3x3 and 5x5 s2) over the
// im2col GEMM the forward rules pick (their "4+ input channels" was measured at stride 1, and
// im2col in place cannot run a stride along x).
bool serve_direct_few_channels(const Conv2dShape& s, Isa) {
  return plain_geometry(s) && s.groups == 1 && s.c >= 2 && s.c <= 3 && s.sw > 1 &&
         s.kh * s.kw > 1 && s.oc >= 16;
}

// 1x1 layers on small maps: the GEMM's 32-column tiles leave 15 of 64 columns empty on a 7x7
// map and 28 of 224 on 14x14, while the direct kernel's tiles of output positions are split
// evenly (serving splits them by output-channel panels there). One thread, batch 1:
// 2048->512 and 512->2048 at 7x7 1.08x and 1.14x, 1024->2048 stride 2 (14 -> 7) 1.38x with
// the weights in cache; on 14x14 maps with the caches flushed first (as every layer of a
// served network meets them) 1024->256 and 256->1024 1.08x, but 512->1024 stride 2
// (28 -> 14) 0.89x, so strided layers go direct only on 8x8 maps and smaller. Whole
// ResNet-50: 41.4-42.6 ms of CPU time with 7x7 maps direct, 40.1-41.7 ms with 14x14 too.
// Since the direct kernels read an unpadded image in place and take a 1x1 layer's long sums
// in blocks (conv/direct_panels.h), 1x1 layers with 128+ input channels on any map run them
// too at batch 1, two threads, in a served ResNet-50: 256->64 and 256->128 at 56x56 1.20x
// and 1.08x, 512->128 and 512->256 at 28x28 1.13x and 1.06x, strided 256->512 (56 -> 28) and
// 512->1024 (28 -> 14) 1.06x and 1.04x, the whole network 1.02x; 64 input channels lost
// (64->256 at 56x56 0.92x). At batch 8 the GEMM stays ahead beyond the small maps above
// (1.1-1.3x; 512->1024 stride 2, 28 -> 14, 1.16x), so serving keeps it for larger batches
// there (pointwise_direct_at_any_batch, infer/serving_conv.cpp).
bool serve_direct_small_pointwise(const Conv2dShape& s, Isa) {
  if (s.kh != 1 || s.kw != 1 || s.groups != 1 || s.oc < 16 || !plain_geometry(s)) return false;
  return s.c >= 128 || pointwise_direct_at_any_batch(s);
}

// Winograd F(2x2, 3x3) for served 3x3 layers at batches of up to kServeSmallBatch images,
// where its GEMMs (16 points of 2x2 tiles) take fewer multiply-adds than F(4x4, 3x3)'s (36
// points of 4x4 tiles) once each is rounded up to whole vectors of tiles (lanes per tier): at
// batch 1 that is maps of 10x10 and less on avx512, where F(4x4, 3x3) leaves most lanes empty
// (a 7x7 map is 4 tiles of 4x4 in a vector of 16, or 16 of 2x2). Set from
// benchmarks/compare_served_3x3.py (chains of served layers, each layer's weights from memory,
// 2 threads, AVX-512 host; time per layer, F(2x2, 3x3) against F(4x4, 3x3) and the direct path):
// - picked, avx512: 512 -> 512 7x7 batch 1 2.1x and 1.35x, batch 2 1.3x and 1.5x (batch 3:
//   F(4x4, 3x3) 1.2x faster, so larger batches take the next rule); 256 -> 256 7x7 2.7x and 2.1x,
//   batch 2 1.4x and 2.0x; 512 -> 512 8x8 2.2x and 2.0x; 256 -> 256 10x10 1.5x and 1.8x, batch
//   2 1.5x and 1.7x; 128 -> 128 7x7 3.0x and 1.6x; 256 -> 256 5x5 2.4x and 1.3x, 512 -> 512
//   4x4 2.6x and 0.99x, batch 2 2.6x and 1.5x. avx2: 512 and 256 channels 7x7 batch 1
//   1.6-1.8x and 1.6x, batch 2 0.96-0.99x and 1.7x; 256 -> 256 10x10 1.2x and 1.8x.
// - not picked: 14x14 and larger maps, where F(4x4, 3x3) fills its vectors (batch 1, F(4x4,
//   3x3) against F(2x2, 3x3): 256 -> 256 14x14 1.4x, avx2 1.7x; 128 -> 128 28x28 1.5x; 64 -> 64
//   56x56 1.4x; the same or more at batches 2-3); maps of under 16 outputs,
//   where reading 16 / 9 of the direct path's weights costs more than the arithmetic saved
//   (512 -> 512 3x3: the direct path 1.1x faster at batches 1 and 2); 64 channels and fewer,
//   where the transforms weigh more and the direct path, picked below, stays close or ahead
//   (64 -> 64 7x7 1.2x, 10x10 0.85x at batch 1, 5x5 0.86x; 128 -> 128 5x5 0.98x).
// Large weights alone do not call for F(2x2, 3x3) (nor for the direct path) at batch 1: the
// GEMMs prefetch their next panel of U (winograd.cpp), and F(4x4, 3x3) ran 256 -> 256 on 14x14
// at batch 1 in 0.24 ms against F(2x2, 3x3)'s 0.32 and the direct path's 0.55 with U (9.4 MB)
// from memory (batch 2: 0.44, 0.64 and 1.06 ms); in a served ResNet-50 at batch 1 its five such
// layers took 2.0 ms as F(4x4, 3x3), 2.9 as F(2x2, 3x3) and 5.7 direct in one run (a slow one).
constexpr int64_t kServeSmallBatch = 2;
constexpr int64_t kWinogradF2MinChannels = 128;
constexpr int64_t kWinogradF2MinOutputs = 16;  // per plane

// Vectors of `lanes` tiles of side `out` covering one output plane.
int64_t tile_vectors(const Conv2dShape& s, int64_t out, int64_t lanes) {
  const int64_t tiles = ((s.oh + out - 1) / out) * ((s.ow + out - 1) / out);
  return (tiles + lanes - 1) / lanes;
}

bool serve_winograd_f2(const Conv2dShape& s, Isa isa) {
  if (!winograd_applies(s) || isa == Isa::ref || !plain_geometry(s) ||
      std::min(s.c, s.oc) < kWinogradF2MinChannels || s.oh * s.ow < kWinogradF2MinOutputs)
    return false;
  const int64_t lanes = isa == Isa::avx512 ? 16 : 8;
  return winograd_points(WinogradVariant::f2x2) * tile_vectors(s, 2, lanes) <
         winograd_points(WinogradVariant::f4x4) * tile_vectors(s, 4, lanes);
}

struct Rule {
  Pass pass;
  Algo algo;
  const char* when;
  bool (*holds)(const Conv2dShape&, Isa);
  const char* sums;  // the order of each output's sum
  // Batches up to this many images only (0: any batch); larger ones take the next rule that holds.
  int64_t max_batch = 0;
};

constexpr const char* kTapsCKK = "taps (c, ky, kx)";
constexpr const char* kTapsKKC = "taps (ky, kx, c)";
constexpr const char* kImages = "images, then positions (oy, ox)";

// Per pass, in order. The serving passes end with the forward rules ("as forward").
constexpr Rule kRules[] = {
    {Pass::forward, Algo::depthwise, "groups > 1 with one input channel per group", depthwise,
     "taps (ky, kx)"},
    {Pass::forward, Algo::direct, "groups 1, kernel larger than 1x1, 16+ output and 4+ input channels",
     direct, kTapsKKC},
    {Pass::forward, Algo::im2col_in_place,
     "avx512 tier, stride 1 along x, not 1x1 without padding, at most 144 output channels per group "
     "and 2048 weights per output",
     im2col_in_place, kTapsCKK},
    {Pass::forward, Algo::pointwise_gemm, "1x1, stride 1, no padding", pointwise, "input channels"},
    {Pass::forward, Algo::im2col_gemm, "otherwise", always, kTapsCKK},
    {Pass::serve_fp32, Algo::winograd_f2,
     "3x3, stride 1, dilation 1, groups 1, padding narrower than the kernel, 128+ input and output "
     "channels, 16+ outputs per channel, avx2/avx512 tiers, F(2x2, 3x3) GEMMs smaller than "
     "F(4x4, 3x3)'s at batch 1 in whole vectors of tiles (maps of 10x10 and less on avx512)",
     serve_winograd_f2, "input channels, per point of the transformed tile", kServeSmallBatch},
    {Pass::serve_fp32, Algo::winograd,
     "3x3, stride 1, dilation 1, groups 1, and winograd_pays at batch 1 (avx2/avx512 tiers, by channels "
     "and tile use)",
     winograd, "input channels, per point of the transformed tile"},
    {Pass::serve_fp32, Algo::direct,
     "2-3 input channels, stride above 1 along x, kernel larger than 1x1, 16+ output channels, groups 1, "
     "no dilation, padding narrower than the kernel",
     serve_direct_few_channels, kTapsKKC},
    {Pass::serve_fp32, Algo::direct,
     "1x1, groups 1, 16+ output channels, 128+ input channels or at most 196 outputs per channel (64 "
     "when strided), padding narrower than the kernel",
     serve_direct_small_pointwise, kTapsKKC},
    {Pass::serve_bf16, Algo::winograd, "as serve_fp32", winograd,
     "input channels, per point of the transformed tile"},
    {Pass::serve_bf16, Algo::bf16_dot,
     "avx512 tier on an AVX512-BF16 CPU, groups 1, not 1x1, 256+ weights per output with 64+ output "
     "channels (384+ with fewer)",
     bf16_dot, kTapsKKC},
    {Pass::grad_input, Algo::depthwise, "as forward", depthwise,
     "output channels of the group, then (oy, ky, kx)"},
    {Pass::grad_input, Algo::pointwise_gemm, "1x1, stride 1, no padding", pointwise, "output channels"},
    {Pass::grad_input, Algo::transposed_conv,
     "16+ input channels per group, stride 1, padding at most dilation * (kernel - 1) on each side",
     transposed_conv, "as the forward algorithm of the transposed shape"},
    {Pass::grad_input, Algo::col2im_gemm, "otherwise", always, "output channels, then taps (col2im)"},
    {Pass::grad_weight, Algo::depthwise, "as forward", depthwise, kImages},
    {Pass::grad_weight, Algo::pointwise_gemm, "1x1, stride 1, no padding", pointwise, kImages},
    {Pass::grad_weight, Algo::hwc_in_place, "a multiple of 16 input channels per group", hwc_in_place,
     kImages},
    {Pass::grad_weight, Algo::hwc_gemm, "16+ input channels per group", hwc_gemm, kImages},
    {Pass::grad_weight, Algo::im2col_gemm, "otherwise", always, kImages},
};

bool serving(Pass p) { return p == Pass::serve_fp32 || p == Pass::serve_bf16; }

}  // namespace

bool pointwise_direct_at_any_batch(const Conv2dShape& s) {
  const bool strided = s.sh != 1 || s.sw != 1;
  return s.oh * s.ow <= (strided ? 64 : 196);
}

// Set from the tables at the end of benchmarks/compare_winograd.py (2 threads, AVX-512 host,
// 3x3 pad 1, batch 1 and 16, against conv2d_forward, i.e. the direct path for 4+ input and 16+
// output channels). `used` is the share of the computed outputs that are kept (4x4 tiles past
// the map edge are computed whole) times the share of the vector lanes the transforms fill (a
// tile row of 3 tiles fills 3 of a piece's 4 lanes, of 6 tiles 6 of 8, of 10 tiles 10 of 16).
// - 16+ channels (the smaller of in and out): 1.2-3.5x where used is at least 1/2 (16->16
//   40x40, used 5/8: 1.23-1.41x); 16-32 channels need used >= 1/2 (8x8 batch 16: 1.49x with
//   16, 1.65x with 32; 9x9, used 0.42: 0.96x with 32) and 64 or more 1/4 (64->64 4x4 and 6x6
//   batch 16: 1.49-1.70x; 256->256 4x4: 3.5x).
// - Under 16 tiles per call (batch 1 on maps under 16x16): the AVX-512 GEMMs cost a full
//   vector each and the calls take a few microseconds, so only 64+ channels on
//   well-used tiles pay: 12x12 (used 3/4) 1.48x with 64 channels, 1.13-1.17x with 16-32; 8x8
//   and 9x9 (used 1/2, 0.42) 0.83-1.13x, 6x6 and 4x4 0.79-0.88x.
// - 4-15 channels: only fully used maps (sides multiples of 4, with 4, 8 or 16k tiles across)
//   pay: 4->16 and 8->16 on 32x32 and 64x64 1.76-2.10x; partly used ones gain little or lose
//   (24x24, 48x48: 0.89-1.22x; 8->16 8x8 at batch 16 1.39x is left out), and 3 input channels
//   do not pay (3->32 on 32x32 and 64x64: 0.93-1.11x).
// The avx2 tier (8 tiles per vector) measured the same way against the avx2 direct path gains
// as much or more (the same table in compare_winograd.py, run with --tier avx2: 16+ channels
// at batch 16 1.3-3.7x, including 9x9 and 4x4 maps; batch 1 under 16 tiles: 0.74-1.46x), so
// it takes the same rule, with its own lane count in `used`.
bool winograd_pays(const Conv2dShape& s, Isa isa) {
  if (!winograd_applies(s)) return false;
  if (isa == Isa::ref) return false;
  const int64_t lanes = isa == Isa::avx512 ? 16 : 8;
  const int64_t channels = std::min(s.c, s.oc);
  const int64_t th = (s.oh + 3) / 4, tw = (s.ow + 3) / 4;
  const bool few_tiles = s.n * th * tw < 16;
  const int64_t pitch = tw <= 4 ? 4 : tw <= 8 ? 8 : (tw + lanes - 1) / lanes * lanes;
  const double used = static_cast<double>(s.oh * s.ow) / static_cast<double>(16 * th * tw) *
                      static_cast<double>(tw) / static_cast<double>(pitch);
  double need;
  if (channels < 4 || (channels < 16 && few_tiles))
    return false;
  else if (channels < 16)
    need = 1.0;
  else if (few_tiles)
    need = channels >= 64 ? 0.75 : 2.0;
  else
    need = channels >= 64 ? 0.25 : 0.5;
  return used >= need - 1e-9;
}

namespace {

// The first rule of the pass that holds for s, or null (the serving passes have no "otherwise"
// of their own: the forward rules decide).
const Rule* first_rule(const Conv2dShape& s, Isa isa, Pass pass) {
  for (const Rule& r : kRules)
    if (r.pass == pass && (r.max_batch == 0 || s.n <= r.max_batch) && r.holds(s, isa)) return &r;
  return nullptr;
}

}  // namespace

Algo choose_algorithm(const Conv2dShape& s, Isa isa, Pass pass) {
  const Rule* r = first_rule(s, isa, pass);
  return r ? r->algo : choose_algorithm(s, isa, Pass::forward);
}

ServingChoice choose_serving(const Conv2dShape& s, Isa isa, Pass pass) {
  Conv2dShape one = s;
  one.n = 1;
  const Rule* r = first_rule(one, isa, pass);
  const Algo small = r ? r->algo : choose_algorithm(one, isa, Pass::forward);
  if (!r || r->max_batch == 0) return {small, 0, small};
  Conv2dShape more = s;
  more.n = r->max_batch + 1;
  return {small, r->max_batch, choose_algorithm(more, isa, pass)};
}

const char* algo_name(Algo a) {
  switch (a) {
    case Algo::depthwise: return "depthwise";
    case Algo::winograd: return "winograd";
    case Algo::winograd_f2: return "winograd_f2";
    case Algo::bf16_dot: return "bf16_dot";
    case Algo::direct: return "direct";
    case Algo::im2col_in_place: return "im2col_in_place";
    case Algo::pointwise_gemm: return "pointwise_gemm";
    case Algo::im2col_gemm: return "im2col_gemm";
    case Algo::transposed_conv: return "transposed_conv";
    case Algo::col2im_gemm: return "col2im_gemm";
    case Algo::hwc_in_place: return "hwc_in_place";
    case Algo::hwc_gemm: return "hwc_gemm";
  }
  return "?";
}

const char* pass_name(Pass p) {
  switch (p) {
    case Pass::forward: return "forward";
    case Pass::serve_fp32: return "serve_fp32";
    case Pass::serve_bf16: return "serve_bf16";
    case Pass::grad_input: return "grad_input";
    case Pass::grad_weight: return "grad_weight";
  }
  return "?";
}

std::string conv_plan_table() {
  std::ostringstream out;
  out << "| pass | algorithm | when (the first rule that holds) | sums over |\n";
  out << "|---|---|---|---|\n";
  const Pass passes[] = {Pass::forward, Pass::serve_fp32, Pass::serve_bf16, Pass::grad_input,
                         Pass::grad_weight};
  for (Pass p : passes) {
    for (const Rule& r : kRules)
      if (r.pass == p) {
        out << "| " << pass_name(p) << " | " << algo_name(r.algo) << " | " << r.when;
        if (r.max_batch) out << "; batches up to " << r.max_batch << " (larger: the next rule that holds)";
        out << " | " << r.sums << " |\n";
      }
    if (serving(p)) out << "| " << pass_name(p) << " | as forward | otherwise | |\n";
  }
  return out.str();
}

}  // namespace pcn::conv
