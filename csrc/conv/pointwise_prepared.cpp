#include "conv/pointwise_prepared.h"

#include <algorithm>

#include "common/aligned_buffer.h"
#include "common/cpu_features.h"
#include "common/threading.h"
#include "conv/strided_gather.h"
#include "gemm/sgemm.h"

namespace pcn::conv {

bool PointwiseConv::applies(const Conv2dShape& s) {
  return s.kh == 1 && s.kw == 1 && s.groups == 1 && s.pt == 0 && s.pl == 0 && s.pb == 0 &&
         s.pr == 0;
}

PointwiseConv::PointwiseConv(const Conv2dShape& s, const float* w, const float* bias)
    : s_(s), bias_(bias ? std::vector<float>(bias, bias + s.oc) : std::vector<float>()) {
  s_.n = 1;
  a_.pack({w, s.c, 1}, s.oc, s.c);
}

void PointwiseConv::forward(int64_t n, const float* x, float* y, bool relu,
                            bool accumulate) const {
  const int64_t m = s_.oc, ohw = s_.oh * s_.ow, hw = s_.h * s_.w, c = s_.c;
  if (n == 0 || m == 0 || ohw == 0) return;
  const bool strided = s_.sh != 1 || s_.sw != 1;
  const int64_t bands = batch1_bands(n, s_.oh);
  thread_local AlignedBuffer gathered;  // the calling thread's; workers only read it
  const float* src = x;
  int64_t plane = hw;
  if (strided) {
    gathered.resize(static_cast<size_t>(n * c * ohw));
    gather_strided(s_, n, x, gathered.data(), bands);
    src = gathered.data();
    plane = ohw;
  }
  const gemm::Ukernels& uk = gemm::select_ukernel();
  const int nt = get_num_threads();
  // Column blocks of whole 32-column tiles (the wide micro-kernel's), about 8 per thread
  // over the batch but no narrower than 2 tiles; then row blocks (multiples of 24 rows, whole
  // wide tiles for both tiers) until there are at least 4 blocks per thread.
  //
  // At batch 1 the columns are first cut into one band of whole output rows per thread, each
  // band into the same number of blocks: threads take the blocks of their own band first
  // (threading.h), so each reads and writes the rows its core wrote in the layer before.
  const int64_t tile = gemm::kWideCols;
  const int64_t tiles = (ohw + tile - 1) / tile;
  const int64_t cb = std::clamp<int64_t>(n * tiles / (8 * nt), 2, 16);
  const int64_t band_cols = (s_.oh + bands - 1) / bands * s_.ow;
  const int64_t band_blocks = ((band_cols + tile - 1) / tile + cb - 1) / cb;
  const int64_t col_blocks = bands * band_blocks;
  const int64_t units_per_rowblock = n * col_blocks;
  const int64_t row_unit = 24;
  const int64_t max_row_blocks = (m + row_unit - 1) / row_unit;
  const int64_t row_blocks = std::clamp<int64_t>((4 * nt + units_per_rowblock - 1) / units_per_rowblock,
                                                 1, max_row_blocks);
  const int64_t rows_per = (m + row_blocks - 1) / row_blocks;
  const int64_t rb = (rows_per + row_unit - 1) / row_unit * row_unit;
  const int64_t nrb = (m + rb - 1) / rb;
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  const gemm::Epilogue ep{bias, nullptr, relu};
  parallel_for_dynamic(units_per_rowblock * nrb, 1, [&](int64_t u0, int64_t u1) {
    thread_local AlignedBuffer bbuf;
    for (int64_t u = u0; u < u1; ++u) {
      // row blocks innermost: consecutive units share the image's columns (B in cache)
      const int64_t r = u % nrb, cu = u / nrb;
      const int64_t b = cu / col_blocks, cbk = cu % col_blocks;
      const int64_t band = cbk / band_blocks, band_end = band_begin(s_.oh, band + 1, bands) * s_.ow;
      const int64_t p0 = band_begin(s_.oh, band, bands) * s_.ow + cbk % band_blocks * cb * tile;
      const int64_t p1 = std::min(band_end, p0 + cb * tile);
      if (p0 >= p1) continue;
      const int64_t m0 = r * rb, m1 = std::min(m, m0 + rb);
      gemm::StridedBPacker pb({src + b * c * plane, plane, 1});
      gemm::gemm_block(uk, a_, pb, m0, m1, p0, p1, y + b * m * ohw, ohw, accumulate, ep, bbuf);
    }
  });
}

std::string PointwiseConv::algorithm() const {
  return std::string(s_.sh != 1 || s_.sw != 1 ? "strided pointwise gemm " : "pointwise gemm ") +
         isa_name(current_isa());
}

int64_t PointwiseConv::bytes() const {
  return a_.bytes() + static_cast<int64_t>(bias_.size() * sizeof(float));
}

}  // namespace pcn::conv
